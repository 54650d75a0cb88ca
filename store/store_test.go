package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "sub", "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sampleFrame(i int) Frame {
	return Frame{Index: i, Objects: []FrameObject{
		{Object: 1, Mask: stripes(6, 4, i%5+1), Box: &mask.Box{X0: 1, Y0: 2, X1: 3, Y1: 4}, IoU: 0.5, ObjectScore: 2, Present: true},
		{Object: 2, Mask: stripes(6, 4, 7), IoU: 0.1, ObjectScore: -3},
	}}
}

func TestSessionRoundTrip(t *testing.T) {
	s := openTemp(t)
	info, err := s.CreateSession(Info{Source: "clip.mp4", Width: 6, Height: 4, FPS: 30, Mode: "samurai"})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.ID) != 16 || info.Created.IsZero() {
		t.Fatalf("CreateSession filled %+v", info)
	}
	seq1, err := s.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: 0, Object: 1, Points: []prompt.Point{{X: 1, Y: 2, Positive: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := s.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: 5, Object: 2, Box: &mask.Box{X0: 0, Y0: 0, X1: 3, Y1: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if seq1 != 1 || seq2 != 2 {
		t.Fatalf("seqs %d %d, want 1 2", seq1, seq2)
	}
	if err := s.PutObject(info.ID, Object{ID: 2, Label: "cup"}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 0, 1, 300} {
		if err := s.PutFrame(info.ID, sampleFrame(i)); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := s.Session(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Info.Source != "clip.mp4" || sess.Info.Width != 6 {
		t.Errorf("info %+v", sess.Info)
	}
	if len(sess.Objects) != 2 || sess.Objects[0].ID != 1 || sess.Objects[1].Label != "cup" {
		t.Errorf("objects %+v", sess.Objects)
	}
	if len(sess.Prompts) != 2 || sess.Prompts[1].Box == nil || sess.Prompts[0].Points[0].X != 1 {
		t.Errorf("prompts %+v", sess.Prompts)
	}
	if sess.FrameCount != 4 || sess.LastFrame != 300 {
		t.Errorf("frames %d last %d, want 4 and 300", sess.FrameCount, sess.LastFrame)
	}
	var order []int
	err = s.Frames(info.ID, func(f *Frame) error {
		order = append(order, f.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 3, 300}; !slices.Equal(order, want) {
		t.Errorf("frame order %v, want %v", order, want)
	}
	f, err := s.Frame(info.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if f.Objects[0].Mask.String() != sampleFrame(3).Objects[0].Mask.String() {
		t.Errorf("frame 3 mask %+v", f.Objects[0].Mask)
	}

	if err := s.RemoveObject(info.ID, 2); err != nil {
		t.Fatal(err)
	}
	sess, _ = s.Session(info.ID)
	if len(sess.Objects) != 1 || len(sess.Prompts) != 1 {
		t.Errorf("after RemoveObject: objects %+v prompts %+v", sess.Objects, sess.Prompts)
	}
	f, _ = s.Frame(info.ID, 0)
	if len(f.Objects) != 1 || f.Objects[0].Object != 1 {
		t.Errorf("after RemoveObject frame 0 has %+v", f.Objects)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	s := openTemp(t)
	if _, err := s.AddPrompt("nope", Prompt{Prompt: prompt.Prompt{Points: []prompt.Point{{}}}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddPrompt on unknown session: %v, want ErrNotFound", err)
	}
	if err := s.PutFrame("nope", Frame{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutFrame on unknown session: %v", err)
	}
	if _, err := s.Session("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session: %v", err)
	}
	info, err := s.CreateSession(Info{ID: "fixed", Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(Info{ID: "fixed"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate id: %v", err)
	}
	if _, err := s.CreateSession(Info{ID: "a/b"}); err == nil {
		t.Error("id with a slash accepted")
	}
	if _, err := s.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Object: 1}}); err == nil {
		t.Error("empty prompt accepted")
	}
	if _, err := s.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: -1, Points: []prompt.Point{{}}}}); err == nil {
		t.Error("negative frame accepted")
	}
	if err := s.PutFrame(info.ID, Frame{Index: -2}); err == nil {
		t.Error("negative frame index accepted")
	}
	if _, err := s.Frame(info.ID, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing frame: %v", err)
	}
	if err := s.DeleteSession(info.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(info.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file description, so a second Open in the
	// same process conflicts just as another process would.
	_, err = OpenWith(path, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestListOrder(t *testing.T) {
	s := openTemp(t)
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	a, _ := s.CreateSession(Info{Source: "a"})
	b, _ := s.CreateSession(Info{Source: "b"})
	if err := s.PutFrame(a.ID, sampleFrame(0)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("list %+v, want %s (updated last) first", list, a.ID)
	}
}

func TestExportImport(t *testing.T) {
	src := openTemp(t)
	info, _ := src.CreateSession(Info{Source: "clip.mp4", Meta: map[string]string{"codec": "vp8"}})
	src.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: 2, Object: 1, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}, {X: 2, Y: 2}}}})
	src.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: 4, Object: 3, Mask: ptr(stripes(6, 4, 2))}})
	for i := range 5 {
		src.PutFrame(info.ID, sampleFrame(i))
	}
	var buf bytes.Buffer
	if err := src.Export(info.ID, &buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1+2+2+5 {
		t.Errorf("export has %d lines, want 10:\n%s", n, buf.String())
	}

	dst := openTemp(t)
	got, err := dst.Import(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != info.ID || got.Meta["codec"] != "vp8" {
		t.Errorf("imported info %+v", got)
	}
	var again bytes.Buffer
	if err := dst.Export(info.ID, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != buf.String() {
		t.Errorf("export after import differs:\n%s\nvs\n%s", again.String(), buf.String())
	}
	// The prompt log continues after the imported sequence numbers.
	seq, err := dst.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Object: 1, Points: []prompt.Point{{}}}})
	if err != nil || seq != 3 {
		t.Errorf("next seq %d (%v), want 3", seq, err)
	}
	if _, err := dst.Import(bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrExists) {
		t.Errorf("second import: %v, want ErrExists", err)
	}
}

func TestImportRejectsBadInput(t *testing.T) {
	s := openTemp(t)
	header := `{"format":"vidseg-session/1","session":{"id":"abc","source":"x","created":"2025-01-01T00:00:00Z","updated":"2025-01-01T00:00:00Z"}}` + "\n"
	cases := map[string]string{
		"empty":         "",
		"not json":      "hello\n",
		"wrong format":  `{"format":"other/1","session":{"id":"x"}}` + "\n",
		"bad id":        `{"format":"vidseg-session/1","session":{"id":"../x"}}` + "\n",
		"unknown field": header + `{"bogus":1}` + "\n",
		"empty line":    header + `{}` + "\n",
		"neg frame":     header + `{"frame":{"index":-1,"objects":[]}}` + "\n",
		"no seq":        header + `{"prompt":{"frame":0,"object":1}}` + "\n",
		"truncated":     header + `{"frame":{"index":1,"obj`,
	}
	for name, in := range cases {
		if _, err := s.Import(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A failed import leaves nothing behind.
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("failed imports left sessions: %+v", list)
	}
}

// BenchmarkPutFrame measures one durable frame write (one fsync'd
// transaction), the journal's cost per finished frame in `vidseg serve`.
func BenchmarkPutFrame(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	info, _ := s.CreateSession(Info{Source: "bench"})
	f := Frame{Objects: []FrameObject{
		{Object: 1, Mask: stripes(1280, 720, 4), Present: true},
		{Object: 2, Mask: stripes(1280, 720, 5), Present: true},
	}}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.Index = i
		if err := s.PutFrame(info.ID, f); err != nil {
			b.Fatal(err)
		}
	}
}

// stripes is a valid w x h mask whose foreground is the top half of every
// period-th column: many runs, as real masks have.
func stripes(w, h, period int) mask.RLE {
	m := make([]byte, w*h)
	for y := 0; y < h/2; y++ {
		for x := 0; x < w; x += period {
			m[y*w+x] = 1
		}
	}
	r, err := mask.EncodeRLE(m, w, h)
	if err != nil {
		panic(err)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func TestSummaries(t *testing.T) {
	s := openTemp(t)
	info, err := s.CreateSession(Info{Source: "clip.mp4", Width: 6, Height: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Object: 2, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.PutFrame(info.ID, sampleFrame(i)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.Summaries()
	if err != nil || len(list) != 1 {
		t.Fatalf("summaries %+v, %v", list, err)
	}
	if got := list[0]; got.ID != info.ID || got.Source != "clip.mp4" || got.Objects != 1 || got.Prompts != 1 || got.Done != 3 {
		t.Errorf("summary %+v, want 1 object, 1 prompt, 3 frames", got)
	}
}

// An edit session's correction (AddEditPrompt) makes the frames stored
// before it stale, in the same transaction, and stores the prompted
// frame fresh; a frame stored later is fresh; stale marks survive a
// reopen and an export and import. (Before: a correction deleted the
// other frames, so a restart lost what the page still showed.)
func TestEditPromptStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vidseg.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.CreateSession(Info{Source: "a.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutFrames(info.ID, []Frame{{Index: 0}, {Index: 1}, {Index: 2}, {Index: 3}}); err != nil {
		t.Fatal(err)
	}
	p := Prompt{Prompt: prompt.Prompt{Frame: 2, Object: 1, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}}}}
	if _, err := s.AddEditPrompt(info.ID, p, Frame{Index: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFrame(info.ID, Frame{Index: 3}); err != nil {
		t.Fatal(err)
	}
	staleOf := func(s *Store, id string) []int {
		t.Helper()
		var out []int
		if err := s.Frames(id, func(f *Frame) error {
			if f.Stale {
				out = append(out, f.Index)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := []int{0, 1}
	if got := staleOf(s, info.ID); !slices.Equal(got, want) {
		t.Errorf("stale frames %v, want %v (2 prompted, 3 stored after)", got, want)
	}
	if f, err := s.Frame(info.ID, 1); err != nil || !f.Stale {
		t.Errorf("Frame(1): %+v, %v; want stale", f, err)
	}
	if _, err := s.AddEditPrompt(info.ID, Prompt{Prompt: prompt.Prompt{Frame: 1, Object: 1}}, Frame{Index: 1}); err == nil {
		t.Error("an empty prompt: no error")
	}
	if _, err := s.AddEditPrompt("nosuchid", p, Frame{Index: 2}); err == nil {
		t.Error("AddEditPrompt on an unknown session: no error")
	}
	if err := s.PutHistory(info.ID, json.RawMessage(`{"redo":[1]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAnalytics(info.ID, Analytics{Geometry: json.RawMessage(`{"zones":[]}`), NextSeq: 7}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(info.ID, &buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := staleOf(s, info.ID); !slices.Equal(got, want) {
		t.Errorf("reopened: stale frames %v, want %v", got, want)
	}
	other := openTemp(t)
	if _, err := other.Import(&buf); err != nil {
		t.Fatal(err)
	}
	if got := staleOf(other, info.ID); !slices.Equal(got, want) {
		t.Errorf("imported: stale frames %v, want %v", got, want)
	}
	// The undo history and the analytics are kept as given, and go with
	// an export.
	for _, st := range []*Store{s, other} {
		if h, ok, err := st.History(info.ID); err != nil || !ok || string(h) != `{"redo":[1]}` {
			t.Errorf("History: %s, %v, %v", h, ok, err)
		}
		if a, ok, err := st.Analytics(info.ID); err != nil || !ok || a.NextSeq != 7 || string(a.Geometry) != `{"zones":[]}` {
			t.Errorf("Analytics: %+v, %v, %v", a, ok, err)
		}
	}
	if err := s.PutHistory(info.ID, json.RawMessage(`{`)); err == nil {
		t.Error("PutHistory of broken JSON: no error")
	}
}
