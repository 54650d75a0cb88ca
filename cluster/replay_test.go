package cluster

import (
	"context"
	"log/slog"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/tracker"
)

// TestLiveCameraResumesFromLastMask runs the fixture model: a live
// camera's first worker tracks a frame with its configured click and
// publishes the result; the camera's next worker prompts the object with
// that last mask (not the click, which belongs to an older scene) and
// tracks it under the same id, while a file camera replays the click.
func TestLiveCameraResumesFromLastMask(t *testing.T) {
	dir := testutil.SmallModel(t)
	clip := testutil.Clip(t, "moving_shape")
	if testing.Short() {
		t.Skip("runs the model")
	}
	lib, err := sam.FindRuntimeLibrary("")
	if err != nil {
		t.Skipf("ONNX Runtime library not found (run make setup): %v", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := sam.Open(rt, dir, sam.Options{Provider: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sched := sam.NewScheduler(m)
	newTracker := func(context.Context, session.Spec) (session.Tracker, error) {
		return tracker.New(sched.Client(), tracker.StreamPreset(tracker.SAMURAI))
	}

	ctx := context.Background()
	_, bus := startBus(t, Options{})
	click := prompt.Prompt{Points: []prompt.Point{{X: 60, Y: 70, Positive: true}}}
	if err := bus.PutCameras(ctx, []Camera{{Name: "door", Source: clip, Prompts: []prompt.Prompt{click}}}); err != nil {
		t.Fatal(err)
	}
	dec, err := decode.Open(ctx, clip, decode.Options{ModelSize: m.Manifest().ImageSize})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	info := dec.Info()
	info.Live = true // as an RTSP camera would be
	spec := session.Spec{ID: "s1", Camera: "door", Source: clip, Info: info}
	log := slog.New(slog.DiscardHandler)

	first := NewEventPublisher(bus, log, nil)
	defer first.Close()
	wt, err := Trackers(bus, first, "w1", log, newTracker)(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r := wt.(*camTracker).replay; len(r) != 1 || r[0].Mask != nil || r[0].Object != 1 {
		t.Fatalf("a new camera replays its configured click as object 1: %+v", r)
	}
	f, err := dec.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := wt.Track(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].RLE.Area() == 0 {
		t.Skipf("the fixture's random weights gave object 1 no mask on frame 0: %+v", res.Objects)
	}
	last := res.Objects[0].RLE
	if err := bus.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	// The server has the result; the results stream stores it a moment later.
	waitFor(t, "the last result stored", func() bool {
		_, err := bus.Results.GetLastMsgForSubject(ctx, Subject("door", "results"))
		return err == nil
	}, nil)

	// The next worker: the object comes back from its last mask.
	second := NewEventPublisher(bus, log, nil)
	defer second.Close()
	wt2, err := Trackers(bus, second, "w2", log, newTracker)(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	r := wt2.(*camTracker).replay
	if len(r) != 1 || r[0].Object != 1 || r[0].Mask == nil || len(r[0].Points) != 0 {
		t.Fatalf("live camera's replay: %+v, want object 1's last mask", r)
	}
	if r[0].Mask.Area() != last.Area() || r[0].Mask.Width != last.Width {
		t.Errorf("replayed mask area %d, the last result's %d", r[0].Mask.Area(), last.Area())
	}
	f2, err := dec.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := wt2.Track(ctx, f2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Objects) != 1 || res2.Objects[0].Object != 1 {
		t.Errorf("after the mask prompt: objects %+v, want object 1", res2.Objects)
	}

	// A file camera restarts at its first frame: the click.
	spec.Info.Live = false
	wt3, err := Trackers(bus, NewEventPublisher(bus, log, nil), "w3", log, newTracker)(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r := wt3.(*camTracker).replay; len(r) != 1 || r[0].Mask != nil || len(r[0].Points) != 1 {
		t.Errorf("file camera's replay: %+v, want the click", r)
	}
}
