package stream

import (
	"net/http"
	"testing"
	"time"

	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// The broadcaster's own encoder path: WriteFrame with a real libvpx encoder
// reaches a pion viewer, and the decoded picture carries the overlay.
func TestWriteFrameEncodesOnce(t *testing.T) {
	frames, _ := overlayFrames(t, 10)
	enc, err := NewVideoEncoder(encode.Options{Codec: encode.VP8, Width: testW, Height: testH, FPS: 30, KeyframeInterval: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	b, srv := newTestServer(t, Options{Encoder: enc})
	a := testutil.DialWHEP(t, srv.URL+"/whep")
	c := testutil.DialWHEP(t, srv.URL+"/whep")
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if err := b.WriteFrame(frames[i%len(frames)], time.Duration(i)*time.Second/30); err != nil {
			t.Fatal(err)
		}
		fa, _ := a.Counts()
		fc, _ := c.Counts()
		if fa >= 3 && fc >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewers got %d and %d frames", fa, fc)
		}
		time.Sleep(10 * time.Millisecond)
	}
	img := decodeFirst(t, a, VP8, testW, testH)
	px := img[(120*testW+160)*3:]
	if !near(px[0], 199, 16) || !near(px[1], 92, 16) || !near(px[2], 92, 16) {
		t.Errorf("overlay pixel %v, want about [199 92 92]", px[:3])
	}
	if s := b.Stats(); s.Frames == 0 || s.Viewers != 2 {
		t.Errorf("stats %+v", s)
	}
}

// A viewer whose writer is stuck loses frames without holding up the
// others, and resumes only at a keyframe.
func TestStuckViewerDoesNotStallOthers(t *testing.T) {
	frames, _ := overlayFrames(t, 20)
	pkts := ffmpegEncode(t, VP8, frames, testW, testH)
	b, srv := newTestServer(t, Options{QueueFrames: 4})
	good := testutil.DialWHEP(t, srv.URL+"/whep")
	// A viewer whose goroutine never runs: its queue fills after 4 frames.
	stuck := &viewer{id: "stuck", frames: make(chan *frame, 4), msgs: make(chan []byte, 8), done: make(chan struct{}), waitKey: false}
	b.mu.Lock()
	b.viewers[stuck.id] = stuck
	b.mu.Unlock()

	start := time.Now()
	for i := 0; i < 200; i++ {
		p := pkts[i%len(pkts)]
		p.PTS = time.Duration(i) * time.Second / 30
		if err := b.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		b.Send([]byte("{}"))
		time.Sleep(2 * time.Millisecond)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("200 frames took %v with a stuck viewer", d)
	}
	good.WaitFrames(t, 50, 10*time.Second)
	s := b.Stats()
	if s.DroppedFrames == 0 || s.DroppedMsgs == 0 {
		t.Errorf("stuck viewer: nothing dropped: %+v", s)
	}
	if len(stuck.frames) != 4 {
		t.Errorf("stuck viewer holds %d frames, want its queue of 4", len(stuck.frames))
	}
	b.mu.Lock()
	waiting := stuck.waitKey
	delete(b.viewers, stuck.id)
	b.mu.Unlock()
	if !waiting {
		t.Error("stuck viewer is not waiting for a keyframe after losing frames")
	}
	t.Logf("stats: %+v", s)
}

func TestLatestKeepsNewest(t *testing.T) {
	l := NewLatest[int]()
	if l.Put(1) {
		t.Error("first Put reported a drop")
	}
	if !l.Put(2) || !l.Put(3) {
		t.Error("Put over a waiting value did not report a drop")
	}
	if v := <-l.C(); v != 3 {
		t.Errorf("got %d, want the newest 3", v)
	}
	select {
	case v := <-l.C():
		t.Errorf("mailbox still holds %d", v)
	default:
	}
}

func TestWHEPMethodNotAllowed(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/whep", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
}

func TestPacerSkipsOnlyWhenBehind(t *testing.T) {
	p := NewPacer(30)
	t0 := time.Unix(1000, 0)
	frame := time.Second / 30
	if p.Late(0, t0) {
		t.Error("first frame late")
	}
	if p.Late(frame, t0.Add(frame+10*time.Millisecond)) {
		t.Error("frame 10 ms behind is not late")
	}
	if !p.Late(2*frame, t0.Add(3*frame+time.Millisecond)) {
		t.Error("frame whose successor is due is not late")
	}
	// A loop restart (pts going back) re-anchors.
	if p.Late(0, t0.Add(time.Hour)) {
		t.Error("restart counted late")
	}
	if p.Late(frame, t0.Add(time.Hour+frame)) {
		t.Error("on-time frame after re-anchoring is late")
	}
}
