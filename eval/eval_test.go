package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/mask"
)

// TestBoundaryFByHand works one row of 10 pixels (diagonal sqrt(101) ->
// bound_pix = ceil(0.008*10.05) = 1; the disk reaches x±1).
//
//	gt   0011100000  seg2bmap (last row: s xor right) -> boundary {1, 4}
//	pred 0000011100                                    -> boundary {4, 7}
//
// Prediction boundary: 4 has gt 4 within 1, 7 has none -> P = 1/2.
// Ground-truth boundary: 4 matched, 1 is 3 from 4 -> R = 1/2. F = 1/2.
// J: no overlap -> 0.
func TestBoundaryFByHand(t *testing.T) {
	gt := []byte{0, 0, 1, 1, 1, 0, 0, 0, 0, 0}
	pred := []byte{0, 0, 0, 0, 0, 1, 1, 1, 0, 0}
	if f, err := BoundaryF(gt, pred, 10, 1); err != nil || f != 0.5 {
		t.Errorf("F = %v, %v; want 0.5", f, err)
	}
	if j, _ := Jaccard(gt, pred); j != 0 {
		t.Errorf("J = %v, want 0", j)
	}
	// Shift by one: boundaries {1,4} and {2,5} all within 1 -> F = 1;
	// J = |{3,4}| / |{2..5}| = 2/4.
	pred = []byte{0, 0, 0, 1, 1, 1, 0, 0, 0, 0}
	if f, _ := BoundaryF(gt, pred, 10, 1); f != 1 {
		t.Errorf("shifted by one: F = %v, want 1", f)
	}
	if j, _ := Jaccard(gt, pred); j != 0.5 {
		t.Errorf("shifted by one: J = %v, want 0.5", j)
	}
}

// TestSeg2bmap: a 2x2 square at (1,1) in a 5x4 frame gives the 3x3 ring
// from (0,0) to (2,2): the boundary sits half a pixel towards the origin.
func TestSeg2bmap(t *testing.T) {
	seg := []byte{
		0, 0, 0, 0, 0,
		0, 1, 1, 0, 0,
		0, 1, 1, 0, 0,
		0, 0, 0, 0, 0,
	}
	want := []bool{
		true, true, true, false, false,
		true, false, true, false, false,
		true, true, true, false, false,
		false, false, false, false, false,
	}
	got := seg2bmap(seg, 5, 4)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("seg2bmap = %v, want %v", got, want)
		}
	}
	// A full frame has no boundary: inner pixels match their neighbours,
	// the last column is compared only downwards (inside), the last row
	// only to the right (inside), and the corner is cleared.
	full := []byte{1, 1, 1, 1, 1, 1}
	for i, v := range seg2bmap(full, 3, 2) {
		if v {
			t.Fatalf("full frame: boundary at %d", i)
		}
	}
}

func TestEmptyCases(t *testing.T) {
	empty := make([]byte, 20)
	some := make([]byte, 20)
	some[6] = 1
	cases := []struct {
		name     string
		gt, pred []byte
		j, f     float64
	}{
		{"both empty", empty, empty, 1, 1},
		{"missed object", some, empty, 0, 0},  // P=1, R=0
		{"false positive", empty, some, 0, 0}, // P=0, R=1
		{"exact", some, some, 1, 1},
	}
	for _, c := range cases {
		j, err := Jaccard(c.gt, c.pred)
		if err != nil || j != c.j {
			t.Errorf("%s: J = %v, %v; want %v", c.name, j, err, c.j)
		}
		f, err := BoundaryF(c.gt, c.pred, 5, 4)
		if err != nil || f != c.f {
			t.Errorf("%s: F = %v, %v; want %v", c.name, f, err, c.f)
		}
	}
	if _, err := Jaccard(empty, empty[:3]); err == nil {
		t.Error("Jaccard of different sizes: no error")
	}
	if _, err := BoundaryF(empty, empty, 4, 4); err == nil {
		t.Error("BoundaryF with wrong size: no error")
	}
	if _, err := BoundaryF(nil, nil, 0, 0); err == nil {
		t.Error("BoundaryF 0x0: no error")
	}
}

func TestBoundPixAndDisk(t *testing.T) {
	// DAVIS 480p: sqrt(480^2 + 854^2) = 979.65 -> ceil(7.84) = 8.
	for _, c := range []struct{ w, h, want int }{{854, 480, 8}, {10, 1, 1}, {160, 120, 2}, {320, 240, 4}, {1920, 1080, 18}} {
		if got := boundPix(c.w, c.h); got != c.want {
			t.Errorf("boundPix(%d, %d) = %d, want %d", c.w, c.h, got, c.want)
		}
	}
	// skimage disk(2): rows 00100 / 01110 / 11111 / 01110 / 00100.
	if got := diskSpans(2); len(got) != 5 || got[0] != 0 || got[1] != 1 || got[2] != 2 || got[3] != 1 || got[4] != 0 {
		t.Errorf("diskSpans(2) = %v, want [0 1 2 1 0]", got)
	}
	// disk(4) row dy=±3: dx^2 <= 16-9=7 -> 2; dy=±2: dx^2 <= 12 -> 3.
	if got := diskSpans(4); got[1] != 2 || got[2] != 3 || got[4] != 4 || got[0] != 0 {
		t.Errorf("diskSpans(4) = %v", got)
	}
}

// TestStatistics follows db_statistics by hand. Four frames:
// linspace(1, 4, 5) = 1, 1.75, 2.5, 3.25, 4 -> round -> 1 2 3 3 4 -> ids
// 0 1 2 2 3; first bin v[0:2], last bin v[2:4]; decay = 0.9 - 0.3.
func TestStatistics(t *testing.T) {
	s := statistics([]float64{1, 0.8, 0.4, 0.2})
	if !approx(s.Mean, 0.6) || s.Recall != 0.5 || !approx(s.Decay, 0.6) {
		t.Errorf("stats = %+v, want mean 0.6 recall 0.5 decay 0.6", s)
	}
	// One frame: all bins are that frame, decay 0.
	if s := statistics([]float64{0.7}); s.Mean != 0.7 || s.Recall != 1 || s.Decay != 0 {
		t.Errorf("one frame stats = %+v", s)
	}
	// Five frames, ids 0..4: decay = mean(v0, v1) - mean(v3, v4).
	if s := statistics([]float64{1, 0, 1, 0, 1}); s.Decay != 0 || s.Mean != 0.6 || s.Recall != 0.6 {
		t.Errorf("five frame stats = %+v", s)
	}
}

// official holds testdata/davis/official.json: the dataset under
// testdata/davis scored with the davis2017-evaluation formulas in Python
// (numpy 1.24, OpenCV 4.6 cv2.dilate, scikit-image 0.19 disk).
type official struct {
	JF, JM, JR, JD, FM, FR, FD float64
	Objects                    map[string]struct {
		J, F                   []float64
		JM, JR, JD, FM, FR, FD float64
	}
}

func TestEvaluateAgainstOfficial(t *testing.T) {
	data, err := os.ReadFile("testdata/davis/official.json")
	if err != nil {
		t.Fatal(err)
	}
	var want official
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	rep, err := Evaluate(context.Background(), "testdata/davis/pred", "testdata/davis/gt")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %.17g, official %.17g", what, got, want)
		}
	}
	check("J&F", rep.JF, want.JF)
	check("J mean", rep.J.Mean, want.JM)
	check("J recall", rep.J.Recall, want.JR)
	check("J decay", rep.J.Decay, want.JD)
	check("F mean", rep.F.Mean, want.FM)
	check("F recall", rep.F.Recall, want.FR)
	check("F decay", rep.F.Decay, want.FD)
	n := 0
	for _, s := range rep.Sequences {
		for _, o := range s.Objects {
			name := s.Name + "_" + string(rune('0'+o.ID))
			w, ok := want.Objects[name]
			if !ok {
				t.Errorf("object %s not in the official results", name)
				continue
			}
			n++
			if len(o.FrameJ) != len(w.J) || len(o.FrameF) != len(w.F) {
				t.Fatalf("%s: %d/%d frames, official %d", name, len(o.FrameJ), len(o.FrameF), len(w.J))
			}
			for i := range w.J {
				check(name+" J frame", o.FrameJ[i], w.J[i])
				check(name+" F frame", o.FrameF[i], w.F[i])
			}
			check(name+" J mean", o.J.Mean, w.JM)
			check(name+" J recall", o.J.Recall, w.JR)
			check(name+" J decay", o.J.Decay, w.JD)
			check(name+" F mean", o.F.Mean, w.FM)
			check(name+" F recall", o.F.Recall, w.FR)
			check(name+" F decay", o.F.Decay, w.FD)
		}
	}
	if n != len(want.Objects) || rep.Objects != n {
		t.Errorf("scored %d objects (report %d), official %d", n, rep.Objects, len(want.Objects))
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
}

func TestEvaluateErrors(t *testing.T) {
	gt := t.TempDir()
	pred := t.TempDir()
	write := func(dir, seq, id string, labels []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, seq), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, seq, id+".png"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := mask.EncodePNG(f, labels, 2, 2); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := Evaluate(ctx, pred, filepath.Join(gt, "missing")); err == nil {
		t.Error("missing gt dir: no error")
	}
	if _, err := Evaluate(ctx, pred, gt); err == nil || !strings.Contains(err.Error(), "no annotated sequences") {
		t.Errorf("empty gt: err = %v", err)
	}
	for _, id := range []string{"00000", "00001"} {
		write(gt, "s", id, []byte{1, 0, 0, 0})
	}
	if _, err := Evaluate(ctx, pred, gt); err == nil || !strings.Contains(err.Error(), "at least 3") {
		t.Errorf("two frames: err = %v", err)
	}
	write(gt, "s", "00002", []byte{1, 0, 0, 0})
	if _, err := Evaluate(ctx, pred, gt); err == nil || !strings.Contains(err.Error(), "frame 00001 has no prediction") {
		t.Errorf("missing prediction: err = %v", err)
	}
	write(pred, "s", "00001", []byte{1, 2, 0, 0})
	if _, err := Evaluate(ctx, pred, gt); err == nil || !strings.Contains(err.Error(), "label 2 at pixel (1,0)") {
		t.Errorf("extra label: err = %v", err)
	}
	write(pred, "s", "00001", []byte{1, 0, 0, 0})
	rep, err := Evaluate(ctx, pred, gt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.JF != 1 || rep.Objects != 1 || len(rep.Sequences[0].Frames) != 1 {
		t.Errorf("perfect one-frame report = %+v", rep)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Evaluate(cancelled, pred, gt); err == nil {
		t.Error("cancelled context: no error")
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

// BenchmarkBoundaryF480p scores a 854x480 frame (bound_pix 8) with two
// offset discs.
func BenchmarkBoundaryF480p(b *testing.B) {
	const w, h = 854, 480
	gt := make([]byte, w*h)
	pred := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (x-400)*(x-400)+(y-240)*(y-240) < 150*150 {
				gt[y*w+x] = 1
			}
			if (x-410)*(x-410)+(y-236)*(y-236) < 148*148 {
				pred[y*w+x] = 1
			}
		}
	}
	for b.Loop() {
		if _, err := BoundaryF(gt, pred, w, h); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSyntheticClip scores the project's generated occlusion clip
// (testdata/videos, DAVIS-style masks): against itself it is perfect; a
// prediction one frame late loses on every frame where the disc moved, and
// on frames 31 (disc just hidden: pred non-empty, gt empty, J=F=0) and 36.
func TestSyntheticClip(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("..", "testdata", "videos", "occlusion", "masks"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := frameIDs(src)
	if err != nil || len(ids) < 3 {
		t.Skipf("generated clip masks not found at %s (go run ./tools/genvideos): %v", src, err)
	}
	gt, same, late := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{gt, same} {
		if err := os.Symlink(src, filepath.Join(d, "occlusion")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(late, "occlusion"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids[1:] {
		data, err := os.ReadFile(filepath.Join(src, ids[i]+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(late, "occlusion", id+".png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	rep, err := Evaluate(ctx, same, gt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.JF != 1 || rep.Objects != 1 || len(rep.Sequences[0].Frames) != len(ids)-2 {
		t.Errorf("self: J&F %v, %d objects, %d frames", rep.JF, rep.Objects, len(rep.Sequences[0].Frames))
	}
	rep, err = Evaluate(ctx, late, gt)
	if err != nil {
		t.Fatal(err)
	}
	o := rep.Sequences[0].Objects[0]
	if rep.JF >= 1 || rep.JF < 0.5 {
		t.Errorf("one frame late: J&F = %v, want in [0.5, 1)", rep.JF)
	}
	// Frame 31 is index 30 among the scored frames 1..62.
	if o.FrameJ[30] != 0 || o.FrameF[30] != 0 {
		t.Errorf("frame 31: J %v F %v, want 0 0 (object hidden, prediction late)", o.FrameJ[30], o.FrameF[30])
	}
	if o.FrameJ[32] != 1 || o.FrameF[32] != 1 {
		t.Errorf("frame 33: J %v F %v, want 1 1 (both empty)", o.FrameJ[32], o.FrameF[32])
	}
	t.Logf("one frame late: J&F %.4f, J %.4f, F %.4f", rep.JF, rep.J.Mean, rep.F.Mean)
}
