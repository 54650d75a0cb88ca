package journal

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
)

// smallModel opens the 256-px fixture model (one ONNX Runtime per
// process).
func smallModel(t *testing.T) *sam.Scheduler {
	t.Helper()
	dir := testutil.SmallModel(t)
	lib, err := sam.FindRuntimeLibrary("")
	if err != nil {
		t.Skipf("ONNX Runtime not found: %v", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	model, err := sam.Open(rt, dir, sam.Options{Provider: sam.ProviderCPU, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	return sam.NewScheduler(model)
}

// editManager is a session manager as `vidseg serve` with a store: edit
// sessions journaled in st.
func editManager(t *testing.T, sched *sam.Scheduler, st *store.Store, root string) *session.Manager {
	t.Helper()
	cfg := session.ModelTrackers(session.Config{Sources: source.Policy{MediaRoot: root}, MaxSessions: 2, PauseAfter: -1, IdleTimeout: -1},
		sched, tracker.SAMURAI)
	cfg.JournalFile = FileTrackers(st, slog.New(slog.DiscardHandler), Settings{})
	m, err := session.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// resumeEdit starts a new manager on st, as a restarted server, and
// resumes the stored edit session id on clip.
func resumeEdit(t *testing.T, sched *sam.Scheduler, st *store.Store, clip, id string) *session.Session {
	t.Helper()
	m := editManager(t, sched, st, filepath.Dir(clip))
	t.Cleanup(func() { _ = m.Close() })
	rs, err := m.ResumeEdit(context.Background(), id, clip)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func storedPrompts(t *testing.T, st *store.Store, id string) []session.PromptFrame {
	t.Helper()
	sess, err := st.Session(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []session.PromptFrame
	for _, p := range sess.Prompts {
		out = append(out, session.PromptFrame{Object: p.Object, Frame: p.Frame})
	}
	return out
}

// Issue 25, item 5: undo, redo and clearing an object in an edit session
// are journaled: the store holds the prompts in effect after each, a
// restart brings the undone state back, and the restored prompts can be
// undone again. (Before: there was no undo; a removal was the only way
// back, and it lost the object's other prompts too.)
func TestEditUndoJournaled(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	st, err := store.Open(filepath.Join(t.TempDir(), "vidseg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	sched := smallModel(t)
	m := editManager(t, sched, st, filepath.Dir(clip))
	ss, err := m.Open(ctx, clip, session.Options{Edit: true})
	if err != nil {
		t.Fatal(err)
	}
	click := func(obj, frame int, x float32) {
		t.Helper()
		f := frame
		if _, err := ss.Apply(ctx, prompt.Prompt{Object: obj, Points: []prompt.Point{{X: x, Y: 120, Positive: true}}}, &f); err != nil {
			t.Fatalf("prompt object %d frame %d: %v", obj, frame, err)
		}
	}
	if err := ss.Undo(ctx); !errors.Is(err, session.ErrConflict) {
		t.Errorf("undo with nothing done: %v, want a conflict", err)
	}
	click(0, 2, 160) // object 1
	click(1, 5, 150)
	click(0, 5, 60) // object 2
	want := []session.PromptFrame{{Object: 1, Frame: 2}, {Object: 1, Frame: 5}, {Object: 2, Frame: 5}}
	if got := storedPrompts(t, st, ss.ID); !slices.Equal(got, want) {
		t.Fatalf("stored prompts %v, want %v", got, want)
	}
	edit := func() *session.EditInfo { return ss.Status().Edit }

	// Undo object 2's click: object 2 is gone; undo object 1's second
	// click: it keeps its first.
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	if objs := ss.Status().Objects; !slices.Equal(objs, []int{1}) {
		t.Errorf("after undoing object 2's only click, objects %v, want [1]", objs)
	}
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := storedPrompts(t, st, ss.ID), []session.PromptFrame{{Object: 1, Frame: 2}}; !slices.Equal(got, want) {
		t.Errorf("after two undos the store holds %v, want %v", got, want)
	}
	if e := edit(); len(e.Clicks) != 1 || e.Redo == "" || e.Undo == "" || !slices.Equal(e.Prompts, []session.PromptFrame{{Object: 1, Frame: 2}}) {
		t.Errorf("after two undos: clicks %v, prompts %v, undo %q, redo %q", e.Clicks, e.Prompts, e.Undo, e.Redo)
	}
	// Redo brings object 1's second click back.
	if err := ss.Redo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := storedPrompts(t, st, ss.ID), []session.PromptFrame{{Object: 1, Frame: 2}, {Object: 1, Frame: 5}}; !slices.Equal(got, want) {
		t.Errorf("after redo the store holds %v, want %v", got, want)
	}
	// Clear object 1 (start over): listed, no prompts; undo brings both back.
	if err := ss.ClearObject(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if e, objs := edit(), ss.Status().Objects; len(e.Clicks) != 0 || len(e.Prompts) != 0 || !slices.Equal(objs, []int{1}) {
		t.Errorf("after clear: clicks %v, prompts %v, objects %v; want none, none, [1]", e.Clicks, e.Prompts, objs)
	}
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	if e := edit(); len(e.Clicks) != 2 || e.Redo != "clear object 1" {
		t.Errorf("after undoing the clear: clicks %v, redo %q", e.Clicks, e.Redo)
	}
	// A new prompt drops the redo stack.
	click(1, 3, 155)
	if e := edit(); e.Redo != "" || e.Undo != "click on object 1, frame 3" {
		t.Errorf("after a new click: undo %q, redo %q", e.Undo, e.Redo)
	}
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	stored := storedPrompts(t, st, ss.ID)
	id := ss.ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: the undone click stays undone, and the restored prompts
	// can be undone.
	rs := resumeEdit(t, sched, st, clip, id)
	e := rs.Status().Edit
	if !slices.Equal(stored, []session.PromptFrame{{Object: 1, Frame: 2}, {Object: 1, Frame: 5}}) || !slices.Equal(e.Prompts, stored) || len(e.Clicks) != 2 {
		t.Errorf("resumed: prompts %v (stored %v), clicks %v; want object 1 on frames 2 and 5", e.Prompts, stored, e.Clicks)
	}
	if e.Undo != "click on object 1, frame 5" {
		t.Errorf("resumed: undo %q, want the last restored click", e.Undo)
	}
	if err := rs.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := storedPrompts(t, st, id), []session.PromptFrame{{Object: 1, Frame: 2}}; !slices.Equal(got, want) {
		t.Errorf("undo after the restart: the store holds %v, want %v", got, want)
	}
}

// Issue 25: an edit session's whole state comes back after a restart
// (the manager and the store closed, new ones opened on the same file):
// the redo stack, the zones, and the frames a correction made stale,
// still shown and still marked stale until the next pass. (Before: the
// redo stack and the zones of an edit session were not stored, and a
// correction deleted the stale frames from the store, so the page
// showed them before a restart and not after.)
func TestEditRestartKeepsWork(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	path := filepath.Join(t.TempDir(), "vidseg.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sched := smallModel(t)
	m := editManager(t, sched, st, filepath.Dir(clip))
	ss, err := m.Open(ctx, clip, session.Options{Edit: true})
	if err != nil {
		t.Fatal(err)
	}
	click := func(ss *session.Session, obj, frame int, x float32) {
		t.Helper()
		f := frame
		if _, err := ss.Apply(ctx, prompt.Prompt{Object: obj, Points: []prompt.Point{{X: x, Y: 120, Positive: true}}}, &f); err != nil {
			t.Fatalf("prompt object %d frame %d: %v", obj, frame, err)
		}
	}
	pass := func(ss *session.Session) {
		t.Helper()
		if err := ss.Track("forward"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(testutil.Patience(time.Minute))
		for ss.Status().Edit.Tracking != "" {
			if time.Now().After(deadline) {
				t.Fatalf("the pass did not end: %+v", ss.Status().Edit)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if e := ss.Status().Edit; e.Error != "" {
			t.Fatalf("pass: %s", e.Error)
		}
	}
	click(ss, 0, 58, 160) // object 1
	pass(ss)
	click(ss, 1, 61, 150) // a correction: 58-60 and 62-63 stale
	click(ss, 0, 60, 60)  // object 2: 61 stale, 60 fresh; undone below, redo brings it back
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	zones := events.Geometry{Zones: []events.Zone{{Name: "door", Polygon: []events.Point{{X: 10, Y: 10}, {X: 100, Y: 10}, {X: 100, Y: 100}}}}}
	if err := ss.SetGeometry(zones); err != nil {
		t.Fatal(err)
	}
	before := ss.Status().Edit
	wantStale := [][2]int{{58, 59}, {61, 63}}
	if !slices.Equal(before.Stale, wantStale) || before.Redo != "click on object 2, frame 60" {
		t.Fatalf("before the restart: stale %v, redo %q", before.Stale, before.Redo)
	}
	id := ss.ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs := resumeEdit(t, sched, st, clip, id)
	after := rs.Status().Edit
	if !slices.Equal(after.Stale, before.Stale) || !slices.Equal(after.Done, before.Done) {
		t.Errorf("after the restart: stale %v, done %v; before: stale %v, done %v", after.Stale, after.Done, before.Stale, before.Done)
	}
	if after.Undo != before.Undo || after.Redo != before.Redo || len(after.Clicks) != len(before.Clicks) || !slices.Equal(after.Prompts, before.Prompts) {
		t.Errorf("after the restart: undo %q redo %q clicks %v prompts %v; before: undo %q redo %q clicks %v prompts %v",
			after.Undo, after.Redo, after.Clicks, after.Prompts, before.Undo, before.Redo, before.Clicks, before.Prompts)
	}
	if g := rs.Geometry(); len(g.Zones) != 1 || g.Zones[0].Name != "door" {
		t.Errorf("after the restart the zones are %+v, want the door", g)
	}
	// Redo works across the restart, and is journaled again.
	if err := rs.Redo(ctx); err != nil {
		t.Fatal(err)
	}
	if objs := rs.Status().Objects; !slices.Equal(objs, []int{1, 2}) {
		t.Errorf("after redo: objects %v, want [1 2]", objs)
	}
	if got, want := storedPrompts(t, st, id), []session.PromptFrame{{Object: 1, Frame: 58}, {Object: 1, Frame: 61}, {Object: 2, Frame: 60}}; !slices.Equal(got, want) {
		t.Errorf("after redo the store holds %v, want %v", got, want)
	}
	// The next pass makes every frame fresh, in the store too.
	pass(rs)
	if e := rs.Status().Edit; len(e.Stale) != 0 || e.DoneCount != 6 {
		t.Errorf("after the pass: stale %v, %d done; want none stale, 6 done", e.Stale, e.DoneCount)
	}
	err = st.Frames(id, func(f *store.Frame) error {
		if f.Stale {
			t.Errorf("stored frame %d still stale after the pass", f.Index)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With every prompt undone, a restart still brings back what redo
// would do (the store holds no prompt, the history one to redo).
func TestEditRestartAllUndone(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	st, err := store.Open(filepath.Join(t.TempDir(), "vidseg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	sched := smallModel(t)
	m := editManager(t, sched, st, filepath.Dir(clip))
	ss, err := m.Open(ctx, clip, session.Options{Edit: true})
	if err != nil {
		t.Fatal(err)
	}
	f := 3
	if _, err := ss.Apply(ctx, prompt.Prompt{Points: []prompt.Point{{X: 160, Y: 120, Positive: true}}}, &f); err != nil {
		t.Fatal(err)
	}
	if err := ss.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	id := ss.ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	rs := resumeEdit(t, sched, st, clip, id)
	if e := rs.Status().Edit; e.Redo != "click on object 1, frame 3" || e.Undo != "" {
		t.Fatalf("resumed with everything undone: undo %q, redo %q; want redo of the click", e.Undo, e.Redo)
	}
	if err := rs.Redo(ctx); err != nil {
		t.Fatal(err)
	}
	if got := storedPrompts(t, st, id); !slices.Equal(got, []session.PromptFrame{{Object: 1, Frame: 3}}) {
		t.Errorf("after redo the store holds %v", got)
	}
}
