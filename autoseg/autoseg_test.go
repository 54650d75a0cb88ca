package autoseg

import (
	"slices"
	"testing"
)

// Grid is build_point_grid: numpy.linspace's points, x fastest.
func TestGrid(t *testing.T) {
	g := Grid(4)
	want := []float64{0.125, 0.375, 0.625, 0.875}
	for i, p := range g {
		if p[0] != want[i%4] || p[1] != want[i/4] {
			t.Fatalf("point %d is %v, want (%g, %g)", i, p, want[i%4], want[i/4])
		}
	}
	if g := Grid(1); len(g) != 1 || g[0] != [2]float64{0.5, 0.5} {
		t.Errorf("Grid(1) = %v, want [(0.5, 0.5)]", g)
	}
	// linspace(1/64, 63/64, 32) steps by (62/64)/31 from 1/64, its last point exactly 63/64.
	g = Grid(32)
	if g[31][0] != 63.0/64 || g[1][0] != 1.0/64+(62.0/64)/31 {
		t.Errorf("Grid(32) row 0 ends %v, second %v", g[31], g[1])
	}
}

// nms keeps by descending score (ties in input order) and drops a box
// whose overlap with a kept one is above the threshold, boxes taken as
// torchvision takes them (x1-x0 wide, so inclusive one-pixel boxes have
// no area and never overlap).
func TestNMS(t *testing.T) {
	m := func(iou float32, box [4]int) Mask { return Mask{PredictedIoU: iou, Box: box} }
	in := []Mask{
		m(0.5, [4]int{0, 0, 10, 10}),
		m(0.9, [4]int{1, 0, 11, 10}),   // IoU with the first 90/110 = 0.818
		m(0.7, [4]int{20, 20, 30, 30}), // alone
		m(0.7, [4]int{20, 20, 30, 27}), // IoU with the last 70/100 = 0.7: kept at 0.7
		m(0.8, [4]int{5, 5, 5, 5}),     // empty area: never suppresses or is suppressed
		m(0.6, [4]int{5, 5, 5, 5}),
	}
	got := nms(in, 0.7)
	var scores []float32
	for _, k := range got {
		scores = append(scores, k.PredictedIoU)
	}
	if want := []float32{0.9, 0.8, 0.7, 0.7, 0.6}; !slices.Equal(scores, want) {
		t.Fatalf("kept scores %v, want %v", scores, want)
	}
	if got[2].Box != in[2].Box || got[3].Box != in[3].Box {
		t.Errorf("ties not in input order: %v, %v", got[2].Box, got[3].Box)
	}
	if got := nms(in, 0.85); len(got) != 6 {
		t.Errorf("at 0.85 kept %d boxes, want all 6", len(got))
	}
}

// Small holes and islands of a low-res mask go, as the reference's
// postprocess_masks removes them; larger ones stay.
func TestFillSmallRegions(t *testing.T) {
	const n = 8
	logits := make([]float32, n*n)
	for i := range logits {
		logits[i] = -1
	}
	for y := 1; y < 6; y++ {
		for x := 1; x < 6; x++ {
			logits[y*n+x] = 1 // a 5x5 square
		}
	}
	logits[3*n+3] = -1 // a one-pixel hole
	logits[7*n+7] = 1  // a one-pixel island
	out := fillSmallRegions(logits, n, 0, 2)
	if out[3*n+3] != 10 {
		t.Errorf("hole is %g, want 10 (filled)", out[3*n+3])
	}
	if out[7*n+7] != -10 {
		t.Errorf("island is %g, want -10 (removed)", out[7*n+7])
	}
	if out[1*n+1] != 1 || out[0] != -1 {
		t.Errorf("large regions changed: %g, %g", out[1*n+1], out[0])
	}
	if p := DefaultParams(); p.Validate() != nil || p.PointsPerSide != 32 || p.PointsPerBatch != 64 || p.PredIoUThresh != 0.8 ||
		p.StabilityScoreThresh != 0.95 || p.StabilityScoreOffset != 1 || p.BoxNMSThresh != 0.7 || !p.MultimaskOutput || p.UseM2M {
		t.Errorf("defaults %+v are not the reference generator's", p)
	}
	bad := DefaultParams()
	bad.CropNLayers = 1
	if bad.Validate() == nil {
		t.Error("crop layers accepted")
	}
}
