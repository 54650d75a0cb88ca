package source

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Issue 24, item 8: a client-named URL to a closed port and one to a
// port that accepts and never answers get the same answer, and no sooner:
// otherwise the server is a port scanner of whatever the policy lets URLs
// reach (6 ms for a closed port against 10 s for a silent one, measured
// before). The timeout is shortened here; the floor is a lower bound, so
// the check holds on any machine. Loopback only, no name resolution.
func TestClosedAndSilentPortsLookAlike(t *testing.T) {
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().String()
	closedLn.Close()
	silent := silentListener(t)

	const timeout = 500 * time.Millisecond
	ctx := context.Background()
	r, err := NewResolver(ctx, Policy{AllowURLs: true, AllowPrivateURLs: true, ConnectTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	answer := func(addr string) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		_, err := r.Resolve(ctx, "http://"+addr+"/cam.mp4")
		took := time.Since(start)
		if err == nil {
			t.Fatalf("http://%s opened", addr)
		}
		// The answer names the URL; what follows is the same for both.
		return strings.ReplaceAll(err.Error(), addr, "ADDR"), took
	}
	closedErr, closedTook := answer(closed)
	silentErr, silentTook := answer(silent)
	t.Logf("closed port: %v %q; silent port: %v %q", closedTook, closedErr, silentTook, silentErr)
	if closedErr != silentErr {
		t.Errorf("answers differ: closed %q, silent %q", closedErr, silentErr)
	}
	if closedTook < timeout || silentTook < timeout {
		t.Errorf("closed port answered in %v, silent in %v: both should take the timeout, %v", closedTook, silentTook, timeout)
	}

	// RTSP: FFmpeg's connection to the relay of a closed port ends no
	// sooner than the timeout either, with the same reason.
	in, err := r.Resolve(ctx, "rtsp://"+closed+"/cam")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(in.Target, "rtsp://")
	host = host[:strings.Index(host, "/")]
	start := time.Now()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.Copy(io.Discard, c)
	if took := time.Since(start); took < timeout {
		t.Errorf("the relay ended the connection to a closed RTSP port after %v, before the timeout %v", took, timeout)
	}
	if err := in.ConnErr(); err == nil || err.Error() != strings.TrimPrefix(silentErr, "http://ADDR/cam.mp4: ") {
		t.Errorf("relay's reason %v, want %q", err, silentErr)
	}
}

// silentListener accepts connections and never answers, until the test
// ends.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}
