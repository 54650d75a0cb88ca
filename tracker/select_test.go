package tracker

import (
	"testing"

	"github.com/vidseg/vidseg/sam"
)

// rectLogits is a 256x256 logit map: +8 inside [x0,x1)x[y0,y1), -8 outside.
func rectLogits(x0, y0, x1, y1 int) []float32 {
	m := make([]float32, 256*256)
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			if x >= x0 && x < x1 && y >= y0 && y < y1 {
				m[y*256+x] = 8
			} else {
				m[y*256+x] = -8
			}
		}
	}
	return m
}

func testManifest() *sam.Manifest {
	m := &sam.Manifest{ImageSize: 1024, MaskSize: 256, PredObjScores: true, UseMultimaskTokenForObjPtr: true}
	m.Samurai.KFScoreWeight = 0.25
	m.Samurai.StableFramesThreshold = 15
	m.Samurai.StableIoUsThreshold = 0.3
	return m
}

// After its stable frames, SAMURAI prefers the candidate that moves as the
// object has been moving, even when another has a higher predicted IoU;
// plain SAM 2 takes the highest IoU.
func TestSamuraiChoiceFollowsMotion(t *testing.T) {
	man := testManifest()
	for _, mode := range []Mode{SAMURAI, SAM2} {
		tr := &Tracker{man: man, cfg: Config{Mode: mode}, noObjPtr: make([]float32, 256)}
		o := &object{id: 1}
		ptr := [4][]float32{make([]float32, 256), make([]float32, 256), make([]float32, 256), make([]float32, 256)}
		// The object moves 2 mask pixels right per frame.
		for f := 0; f < 20; f++ {
			x := 40 + 2*f
			c := &sam.Candidates{
				Masks:       [4][]float32{rectLogits(x, 60, x+40, 100), rectLogits(x, 60, x+40, 100), rectLogits(0, 0, 8, 8), rectLogits(0, 0, 8, 8)},
				IoU:         [4]float32{0.5, 0.9, 0.2, 0.1},
				ObjPtr:      ptr,
				ObjectScore: 3,
			}
			if e := tr.choose(o, c, true, f); e.Candidate != 1 {
				t.Fatalf("%v frame %d: chose %d while stabilising", mode, f, e.Candidate)
			}
		}
		// Now a distractor far away gets the higher predicted IoU.
		x := 40 + 2*20
		c := &sam.Candidates{
			Masks:       [4][]float32{rectLogits(x, 60, x+40, 100), rectLogits(180, 180, 220, 220), rectLogits(x, 60, x+40, 100), rectLogits(0, 0, 8, 8)},
			IoU:         [4]float32{0.5, 0.82, 0.80, 0.1},
			ObjPtr:      ptr,
			ObjectScore: 3,
		}
		e := tr.choose(o, c, true, 20)
		want := 2
		if mode == SAM2 {
			want = 1
		}
		if e.Candidate != want {
			t.Errorf("%v: chose token %d, want %d (kalman score %.3f)", mode, e.Candidate, want, e.KalmanScore)
		}
		if mode == SAMURAI && (!e.HasKalman || e.KalmanScore < 0.8) {
			t.Errorf("SAMURAI: Kalman score %.3f (has %v), want the motion-consistent box to score high", e.KalmanScore, e.HasKalman)
		}
	}
}

// An unstable single-mask output falls back to the best multimask token,
// while the object pointer still comes from the single-mask token.
func TestDynamicMultimaskFallback(t *testing.T) {
	man := testManifest()
	man.DynamicMultimaskViaStability = true
	man.DynamicMultimaskStabilityDelta = 0.05
	man.DynamicMultimaskStabilityThresh = 0.98
	tr := &Tracker{man: man, cfg: Config{Mode: SAM2}, noObjPtr: make([]float32, 256)}
	unstable := rectLogits(10, 10, 50, 50)
	for i := range unstable[:256*20] {
		unstable[i] = 0.01 // within +-delta: counts in the union, not the intersection
	}
	ptrs := [4][]float32{{0}, {1}, {2}, {3}}
	c := &sam.Candidates{Masks: [4][]float32{unstable, rectLogits(0, 0, 5, 5), rectLogits(0, 0, 9, 9), rectLogits(0, 0, 7, 7)}, IoU: [4]float32{0.9, 0.3, 0.7, 0.5}, ObjPtr: ptrs, ObjectScore: 1}
	e := tr.choose(&object{}, c, false, 0)
	if e.Candidate != 2 || e.IoU != 0.7 || e.Ptr[0] != 0 {
		t.Fatalf("unstable single mask: token %d iou %v ptr %v, want token 2, iou 0.7, pointer of token 0", e.Candidate, e.IoU, e.Ptr[0])
	}
	c.Masks[0] = rectLogits(10, 10, 50, 50)
	if e := tr.choose(&object{}, c, false, 0); e.Candidate != 0 {
		t.Fatalf("stable single mask: token %d, want 0", e.Candidate)
	}
	// Absent object: every mask becomes -1024 and the pointer no_obj_ptr.
	c.ObjectScore = -0.5
	tr.noObjPtr = []float32{42}
	e = tr.choose(&object{}, c, true, 0)
	if e.Logits[0] != noObjectLogit || e.Ptr[0] != 42 {
		t.Fatalf("absent: logit %v ptr %v", e.Logits[0], e.Ptr[0])
	}
}

// With non-overlap, each pixel keeps only the highest-scoring object's
// positive logit; the others are capped at -10 (and untouched when already
// lower).
func TestNonOverlap(t *testing.T) {
	objs := []ObjectResult{
		{Object: 1, logits: []float32{5, 2, -20, 1}},
		{Object: 2, logits: []float32{3, 4, -30, 1}},
	}
	applyNonOverlap(objs)
	want1 := []float32{5, -10, -20, 1}
	want2 := []float32{-10, 4, -30, -10}
	for i := range want1 {
		if objs[0].logits[i] != want1[i] || objs[1].logits[i] != want2[i] {
			t.Fatalf("pixel %d: got %v / %v, want %v / %v", i, objs[0].logits[i], objs[1].logits[i], want1[i], want2[i])
		}
	}
}
