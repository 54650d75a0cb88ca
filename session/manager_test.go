package session

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// boxTracker reports every prompted object present in a fixed box on
// each frame: the model's stand-in where a test is about the session's
// plumbing (real decoding, loops, detector and hub), not about masks.
type boxTracker struct {
	mu      sync.Mutex
	objects []int
}

func (b *boxTracker) result(frame int) *tracker.FrameResult {
	res := &tracker.FrameResult{Frame: frame}
	for _, id := range b.objects {
		res.Objects = append(res.Objects, tracker.ObjectResult{Object: id, ObjectScore: 5, Visible: true,
			Box: mask.Box{X0: 10, Y0: 10, X1: 30, Y1: 30}})
	}
	return res
}

func (b *boxTracker) Track(_ context.Context, f *video.Frame) (*tracker.FrameResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.result(f.Index), nil
}

func (b *boxTracker) Prompt(_ context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects = append(b.objects, p.Object)
	return b.result(p.Frame), nil
}

func (b *boxTracker) RemoveObject(int) error { return nil }

// TestCameraRunsWithoutHTTP runs a configured camera as a cluster worker
// does, with the session manager alone: the clip is decoded and tracked
// with nobody watching, a prompt waits for the model's first frame, the
// zone's events reach a subscriber of the manager's hub, and Remove ends
// the pipeline.
func TestCameraRunsWithoutHTTP(t *testing.T) {
	trk := &boxTracker{}
	m, err := New(Config{
		NewTracker: func(context.Context, Spec) (Tracker, error) { return trk, nil },
		ModelSize:  64,
		Sources:    source.Policy{MediaRoot: filepath.Join(testutil.RepoRoot(t), "testdata", "videos")},
		Analytics:  events.Config{Frames: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	backlog, sub, err := m.Events().Subscribe(0)
	if err != nil || len(backlog) != 0 {
		t.Fatalf("subscribe: %v, backlog %v", err, backlog)
	}
	zone := &events.Geometry{Zones: []events.Zone{{Name: "corner", Polygon: []events.Point{{X: 0, Y: 0}, {X: 60, Y: 0}, {X: 60, Y: 60}, {X: 0, Y: 60}}}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss, err := m.OpenCamera(ctx, CameraSpec{Name: "door", Source: "moving_shape/video.mp4", Geometry: zone})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ss.PromptWhenReady(ctx, prompt.Prompt{Points: []prompt.Point{{X: 20, Y: 20, Positive: true}}})
	if err != nil || obj != 1 {
		t.Fatalf("prompt: object %d, %v", obj, err)
	}
	kinds := map[events.Kind]bool{}
	for !kinds[events.ZoneEnter] {
		select {
		case e, ok := <-sub:
			if !ok {
				t.Fatal("event stream closed")
			}
			if e.Session != ss.ID || e.Event.Camera != "door" {
				t.Fatalf("event %+v: want session %s, camera door", e, ss.ID)
			}
			kinds[e.Event.Kind] = true
		case <-ctx.Done():
			t.Fatalf("no zone_enter event; got %v", kinds)
		}
	}
	st := ss.Status()
	if st.Viewers != 0 || st.FramesSent != 0 || st.ModelFrames == 0 || len(st.Objects) != 1 || st.Camera != "door" {
		t.Errorf("status %+v: want model frames, object 1, nothing sent to no viewer", st)
	}
	if !m.Remove(ss.ID) {
		t.Fatal("Remove: no session")
	}
	select {
	case <-ss.Done():
	default:
		t.Fatal("Remove returned before the pipeline ended")
	}
	if len(m.List()) != 0 {
		t.Errorf("sessions after Remove: %v", m.List())
	}
}

// An edit session's lanes stay bounded however long the video: at most
// maxLaneCells cells an object, each cell saying whether the object is
// present on its tracked frames.
func TestEditLanesBounded(t *testing.T) {
	e := &editor{frames: 10000, results: map[int][]stream.ObjectMeta{}}
	for f := 0; f < 10000; f += 3 {
		e.results[f] = []stream.ObjectMeta{{ID: 1, Present: true}, {ID: 2, Present: f < 5000}}
	}
	e.results[9999] = []stream.ObjectMeta{{ID: 2, Present: true}}
	lanes := e.lanes()
	if len(lanes) != 2 || len(lanes[0].Cells) != maxLaneCells || len(lanes[1].Cells) != maxLaneCells {
		t.Fatalf("lanes %d, cells %d; want 2 lanes of %d", len(lanes), len(lanes[0].Cells), maxLaneCells)
	}
	if strings.Trim(lanes[0].Cells, "p") != "" {
		t.Errorf("object 1 present everywhere, lane %q", lanes[0].Cells)
	}
	if c := lanes[1].Cells; c[0] != 'p' || c[maxLaneCells/2] != 'a' || c[maxLaneCells-1] != 'm' {
		t.Errorf("object 2's lane: first %c, middle %c, last %c; want p, a, m", c[0], c[maxLaneCells/2], c[maxLaneCells-1])
	}
}

// A stored history matches the restored prompts when every prompt was
// undone (none restored, none in the history), and as stored JSON.
func TestSamePrompts(t *testing.T) {
	p := prompt.Prompt{Object: 1, Frame: 2, Points: []prompt.Point{{X: 1, Y: 2, Positive: true}}}
	for _, c := range []struct {
		a, b []prompt.Prompt
		want bool
	}{
		{nil, []prompt.Prompt{}, true},
		{[]prompt.Prompt{p}, []prompt.Prompt{p}, true},
		{[]prompt.Prompt{p}, nil, false},
		{[]prompt.Prompt{p}, []prompt.Prompt{{Object: 1, Frame: 3, Points: p.Points}}, false},
	} {
		if got := samePrompts(c.a, c.b); got != c.want {
			t.Errorf("samePrompts(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// lazyTracker makes each frame's model copy as tracker.Tracker does and
// holds the first frame until release is closed.
type lazyTracker struct {
	boxTracker
	release chan struct{}
	held    atomic.Bool
	stall   atomic.Bool  // hold every frame until the session ends
	bad     atomic.Int64 // frames whose model copy failed or had the wrong size
}

func (l *lazyTracker) Track(ctx context.Context, f *video.Frame) (*tracker.FrameResult, error) {
	if err := f.LoadModel(); err != nil || len(f.Model) != 64*64*3 {
		l.bad.Add(1)
	}
	if !l.held.Swap(true) {
		select {
		case <-l.release:
		case <-ctx.Done():
		}
	}
	if l.stall.Load() {
		<-ctx.Done()
	}
	return l.boxTracker.Track(ctx, f)
}

// A live session decodes with lazy model copies: the model's frames get
// theirs, and the frames it never takes (replaced while it works) let their
// decoded pictures go at once, so a busy model holds at most a few; none
// stay held once the session ends.
func TestLiveSessionReleasesSkippedModelCopies(t *testing.T) {
	lt := &lazyTracker{release: make(chan struct{})}
	m, err := New(Config{
		NewTracker: func(context.Context, Spec) (Tracker, error) { return lt, nil },
		ModelSize:  64,
		Sources:    source.Policy{MediaRoot: filepath.Join(testutil.RepoRoot(t), "testdata", "videos")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ss, err := m.OpenCamera(ctx, CameraSpec{Name: "door", Source: "moving_shape/video.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	dec, ok := ss.src.(*decode.Decoder)
	if !ok {
		t.Fatalf("camera source is %T, want *decode.Decoder", ss.src)
	}
	// Wait on the session's own counter: 10 frames replaced while the
	// model holds its first.
	waitFor(ctx, t, "10 frames skipped by the busy model", func() bool { return ss.modelDropped.Load() >= 10 })
	// One held by the model, one waiting in the mailbox, one on its way.
	if n := dec.DeferredModelCopies(); n > 3 {
		t.Errorf("%d decoded pictures held for model copies while the model is busy, want <= 3", n)
	}
	close(lt.release)
	waitFor(ctx, t, "3 model frames", func() bool { return ss.Status().ModelFrames >= 3 })
	// End it while the model is busy again and a frame waits in the
	// mailbox: that one's picture must be let go too.
	lt.stall.Store(true)
	dropped := ss.modelDropped.Load()
	waitFor(ctx, t, "a frame replaced in the mailbox", func() bool { return ss.modelDropped.Load() >= dropped+2 })
	if !m.Remove(ss.ID) {
		t.Fatal("Remove: no session")
	}
	<-ss.Done()
	if n := dec.DeferredModelCopies(); n != 0 {
		t.Errorf("%d decoded pictures still held after the session ended", n)
	}
	if n := lt.bad.Load(); n != 0 {
		t.Errorf("%d frames reached the model without a %dx%d model copy", n, 64, 64)
	}
}

// waitFor polls cond until it holds or ctx ends (then the test fails).
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}
