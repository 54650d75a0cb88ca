package stream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/overlay"
)

const testW, testH = 320, 240

// overlayFrames makes n gray frames with object 1's square composited in,
// the way the live pipeline draws masks.
func overlayFrames(t testing.TB, n int) ([][]byte, []byte) {
	t.Helper()
	mask := make([]byte, testW*testH)
	for y := 80; y < 160; y++ {
		for x := 120; x < 200; x++ {
			mask[y*testW+x] = 1
		}
	}
	frames := make([][]byte, n)
	for i := range frames {
		f := make([]byte, testW*testH*3)
		for j := range f {
			f[j] = 128
		}
		// A moving bar keeps the encoder producing real inter frames.
		for y := 0; y < 16; y++ {
			for x := (i * 4) % (testW - 16); x < (i*4)%(testW-16)+16; x++ {
				copy(f[(y*testW+x)*3:], []byte{0, 0, 0})
			}
		}
		if err := overlay.Composite(f, testW, testH, []overlay.ObjectMask{{ID: 1, Mask: mask}}); err != nil {
			t.Fatal(err)
		}
		frames[i] = f
	}
	return frames, mask
}

func newTestServer(t testing.TB, opts Options) (*Broadcaster, *httptest.Server) {
	t.Helper()
	b, err := NewBroadcaster(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/whep", WHEP{B: b}))
	t.Cleanup(func() {
		srv.Close()
		if err := b.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	return b, srv
}

// pump writes packets in a loop at about 100 frames/s until stop.
func pump(b *Broadcaster, pkts []Packet, stop <-chan struct{}) <-chan error {
	errc := make(chan error, 1)
	go func() {
		frameDur := time.Second / 30
		for i := 0; ; i++ {
			select {
			case <-stop:
				errc <- nil
				return
			case <-time.After(10 * time.Millisecond):
			}
			p := pkts[i%len(pkts)]
			p.PTS = time.Duration(i) * frameDur
			if err := b.WritePacket(p); err != nil {
				errc <- err
				return
			}
			b.Send([]byte(fmt.Sprintf(`{"type":"frame","frame":%d}`, i)))
		}
	}()
	return errc
}

func near(a, b uint8, tol int) bool {
	d := int(a) - int(b)
	return d >= -tol && d <= tol
}

func testOverlayReachesViewers(t *testing.T, codec string) {
	frames, _ := overlayFrames(t, 30)
	pkts := ffmpegEncode(t, codec, frames, testW, testH)
	b, srv := newTestServer(t, Options{Codec: codec})
	viewers := []*testutil.Viewer{testutil.DialWHEP(t, srv.URL+"/whep"), testutil.DialWHEP(t, srv.URL+"/whep")}
	stop := make(chan struct{})
	errc := pump(b, pkts, stop)
	for _, v := range viewers {
		v.WaitFrames(t, 5, 15*time.Second)
		v.WaitMessages(t, 1, 5*time.Second)
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Blend of gray 128 with red (255,64,64) at overlay.Alpha/256.
	want := [3]uint8{uint8((128*(256-overlay.Alpha) + 255*overlay.Alpha) >> 8), uint8((128*(256-overlay.Alpha) + 64*overlay.Alpha) >> 8), uint8((128*(256-overlay.Alpha) + 64*overlay.Alpha) >> 8)}
	for i, v := range viewers {
		img := decodeFirst(t, v, codec, testW, testH)
		in := img[(120*testW+160)*3:]
		out := img[(200*testW+40)*3:]
		t.Logf("viewer %d: inside mask %v (want ~%v), background %v", i, in[:3], want, out[:3])
		for c := 0; c < 3; c++ {
			if !near(in[c], want[c], 16) {
				t.Errorf("viewer %d: overlay pixel %v, want about %v", i, in[:3], want)
				break
			}
			if !near(out[c], 128, 16) {
				t.Errorf("viewer %d: background pixel %v, want about gray 128", i, out[:3])
				break
			}
		}
		_, m := v.Counts()
		if m == 0 {
			t.Errorf("viewer %d: no metadata", i)
		}
	}
	if s := b.Stats(); s.Viewers != 2 {
		t.Errorf("Stats().Viewers = %d, want 2", s.Viewers)
	}
}

func TestOverlayReachesViewersVP8(t *testing.T)  { testOverlayReachesViewers(t, VP8) }
func TestOverlayReachesViewersH264(t *testing.T) { testOverlayReachesViewers(t, H264) }

func TestWHEPErrors(t *testing.T) {
	b, srv := newTestServer(t, Options{})
	post := func(body, ctype string) (int, string) {
		resp, err := http.Post(srv.URL+"/whep", ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	cases := []struct {
		name, body, ctype string
		status            int
		mention           string
	}{
		{"empty", "", "application/sdp", 400, "empty"},
		{"garbage", "hello, not SDP", "application/sdp", 400, "bad SDP offer"},
		{"audio only", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n", "application/sdp", 400, "no video"},
		{"wrong type", "v=0", "text/plain", 415, "application/sdp"},
		{"too big", strings.Repeat("a", maxOfferBytes+1), "application/sdp", 413, "larger"},
	}
	for _, c := range cases {
		status, body := post(c.body, c.ctype)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Errorf("%s: body %q is not a JSON error", c.name, body)
		}
		if status != c.status || !strings.Contains(e.Error, c.mention) {
			t.Errorf("%s: got %d %q, want %d mentioning %q", c.name, status, e.Error, c.status, c.mention)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/whep/nosuchviewer", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(data), "nosuchviewer") {
		t.Errorf("DELETE unknown viewer: %d %s, want 404 naming it", resp.StatusCode, data)
	}

	// The endpoint still serves a good viewer, and DELETE ends it.
	v := testutil.DialWHEP(t, srv.URL+"/whep")
	if !strings.HasPrefix(v.Location(), "/whep/") {
		t.Errorf("Location %q, want /whep/<id>", v.Location())
	}
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+v.Location(), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("DELETE %s: %d", v.Location(), resp.StatusCode)
	}
	if n := b.Stats().Viewers; n != 0 {
		t.Errorf("%d viewers after DELETE, want 0", n)
	}
}

// A viewer whose network disappears (no DTLS close, no DELETE) is removed
// after the ICE timeout while another viewer keeps receiving.
func TestViewerVanishes(t *testing.T) {
	frames, _ := overlayFrames(t, 20)
	pkts := ffmpegEncode(t, VP8, frames, testW, testH)
	b, srv := newTestServer(t, Options{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second, ICEKeepaliveInterval: 200 * time.Millisecond})
	stay := testutil.DialWHEP(t, srv.URL+"/whep")
	gone := testutil.DialWHEP(t, srv.URL+"/whep")
	stop := make(chan struct{})
	errc := pump(b, pkts, stop)
	defer func() {
		close(stop)
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	gone.WaitFrames(t, 3, 15*time.Second)
	stay.WaitFrames(t, 3, 15*time.Second)
	gone.Vanish() // the socket is gone, nothing says goodbye
	deadline := time.Now().Add(15 * time.Second)
	for b.Stats().Viewers != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("vanished viewer not removed: %+v", b.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, _ := stay.Counts()
	stay.WaitFrames(t, before+10, 10*time.Second)
	t.Logf("after vanish: %+v", b.Stats())
}

func TestTwentyViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("20 peers take a few seconds")
	}
	frames, _ := overlayFrames(t, 20)
	pkts := ffmpegEncode(t, VP8, frames, testW, testH)
	b, srv := newTestServer(t, Options{})
	peers := make([]*testutil.Viewer, 20)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := testutil.DialWHEP(t, srv.URL+"/whep")
			mu.Lock()
			peers[i] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	stop := make(chan struct{})
	errc := pump(b, pkts, stop)
	for i, p := range peers {
		if p == nil {
			t.Fatalf("peer %d did not connect", i)
		}
		p.WaitFrames(t, 5, 20*time.Second)
	}
	// Half leave at once; the rest keep receiving.
	for _, p := range peers[:10] {
		p.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Viewers != 10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := b.Stats().Viewers; n != 10 {
		t.Errorf("%d viewers after 10 closed, want 10", n)
	}
	for _, p := range peers[10:] {
		n, _ := p.Counts()
		p.WaitFrames(t, n+5, 10*time.Second)
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", b.Stats())
}

func TestNewBroadcasterRejectsUnknownCodec(t *testing.T) {
	_, err := NewBroadcaster(Options{Codec: "theora"})
	if err == nil || !strings.Contains(err.Error(), "theora") {
		t.Fatalf("err = %v, want one naming theora", err)
	}
}
