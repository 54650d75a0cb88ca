package source

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Issue 24, item 5: RTSP is interleaved over TCP through the relay unless
// UDP is allowed, and the relay passes media frames and answers but not a
// redirect.
func TestRTSPPolicy(t *testing.T) {
	ctx := context.Background()
	for _, udp := range []bool{false, true} {
		r, err := NewResolver(ctx, Policy{AllowURLs: true, AllowPrivateURLs: true, AllowRTSPUDP: udp})
		if err != nil {
			t.Fatal(err)
		}
		in, err := r.Resolve(ctx, "rtsp://user:pw@127.0.0.1:8554/cam")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(in.Opts.Protocols, "udp"); got != udp || in.Opts.RTSPTCP == udp {
			t.Errorf("AllowRTSPUDP %v: protocols %q, RTSPTCP %v", udp, in.Opts.Protocols, in.Opts.RTSPTCP)
		}
		if !udp && (strings.Contains(in.Target, ":8554") || in.ConnErr == nil) {
			t.Errorf("FFmpeg is pointed at %s, not at the relay", in.Target)
		}
		r.Close()
	}

	relay := &rtspRelay{}
	var out strings.Builder
	media := "$\x00\x00\x03abc"
	ok := "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nv=0\n"
	err := relay.answers(&out, strings.NewReader(ok+media+"RTSP/1.0 302 Found\r\nCSeq: 2\r\nLocation: rtsp://10.0.0.1/x\r\n\r\n"))
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("a 302 from the server: %v, want refused", err)
	}
	if out.String() != ok+media {
		t.Errorf("relayed %q, want the answer and the media frame before the redirect", out.String())
	}
}
