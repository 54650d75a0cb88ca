// Package autoseg segments everything in one frame, as SAM 2's
// SAM2AutomaticMaskGenerator (sam2/automatic_mask_generator.py) does: a
// grid of single-click prompts runs through the mask decoder in batches
// from one image encoding, each click's candidate masks are kept by
// predicted IoU and stability score, and overlapping masks are removed by
// box non-maximum suppression (torchvision's batched_nms). The
// post-processing is pure Go and follows the reference's arithmetic, so
// that the same weights give the same masks in the same order.
//
// Crops (crop_n_layers > 0) are not supported: they encode the image again
// per crop.
package autoseg

import (
	"errors"
	"fmt"
	"math"
)

// Params are SAM2AutomaticMaskGenerator's parameters; DefaultParams gives
// its defaults.
type Params struct {
	PointsPerSide  int // grid points along each side (points_per_side)
	PointsPerBatch int // prompts per mask decoder run (points_per_batch)

	PredIoUThresh        float64 // keep masks with predicted IoU > this (0 = no filter)
	StabilityScoreThresh float64 // keep masks with stability >= this (0 = no filter)
	StabilityScoreOffset float64 // logit offset of the stability score
	MaskThreshold        float64 // logit threshold of a mask pixel
	BoxNMSThresh         float64 // box IoU above which the lower-scored mask is dropped

	CropNLayers       int // only 0 (no crops) is supported
	MinMaskRegionArea int // fill holes / remove islands up to this many low-res pixels (0 = off)
	MultimaskOutput   bool
	UseM2M            bool // refine every mask once with itself as the mask prompt
}

// DefaultParams are the reference generator's defaults.
func DefaultParams() Params {
	return Params{
		PointsPerSide:        32,
		PointsPerBatch:       64,
		PredIoUThresh:        0.8,
		StabilityScoreThresh: 0.95,
		StabilityScoreOffset: 1.0,
		MaskThreshold:        0,
		BoxNMSThresh:         0.7,
		MultimaskOutput:      true,
	}
}

// Validate reports the first parameter out of its range.
func (p Params) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case p.PointsPerSide < 1 || p.PointsPerSide > 1024:
		return fmt.Errorf("autoseg: points per side %d: want 1..1024", p.PointsPerSide)
	case p.PointsPerBatch < 1:
		return fmt.Errorf("autoseg: points per batch %d: want at least 1", p.PointsPerBatch)
	case !finite(p.PredIoUThresh) || p.PredIoUThresh < 0 || p.PredIoUThresh > 1:
		return fmt.Errorf("autoseg: predicted IoU threshold %g: want 0..1", p.PredIoUThresh)
	case !finite(p.StabilityScoreThresh) || p.StabilityScoreThresh < 0 || p.StabilityScoreThresh > 1:
		return fmt.Errorf("autoseg: stability score threshold %g: want 0..1", p.StabilityScoreThresh)
	case !finite(p.StabilityScoreOffset) || p.StabilityScoreOffset < 0:
		return fmt.Errorf("autoseg: stability score offset %g: want >= 0", p.StabilityScoreOffset)
	case !finite(p.MaskThreshold):
		return fmt.Errorf("autoseg: mask threshold %g is not a number", p.MaskThreshold)
	case !finite(p.BoxNMSThresh) || p.BoxNMSThresh < 0 || p.BoxNMSThresh > 1:
		return fmt.Errorf("autoseg: box NMS threshold %g: want 0..1", p.BoxNMSThresh)
	case p.CropNLayers != 0:
		return errors.New("autoseg: crop layers are not supported (crop_n_layers must be 0)")
	case p.MinMaskRegionArea < 0:
		return fmt.Errorf("autoseg: min mask region area %d is negative", p.MinMaskRegionArea)
	}
	return nil
}

// Grid is build_point_grid: n x n points in [0,1]^2, row by row (x varies
// fastest), spaced as numpy.linspace(1/(2n), 1-1/(2n), n) computes them.
func Grid(n int) [][2]float64 {
	off := 1 / (2 * float64(n))
	side := make([]float64, n)
	if n == 1 {
		side[0] = off
	} else {
		step := (1 - off - off) / float64(n-1)
		for i := range side {
			side[i] = float64(i)*step + off
		}
		side[n-1] = 1 - off
	}
	pts := make([][2]float64, 0, n*n)
	for _, y := range side {
		for _, x := range side {
			pts = append(pts, [2]float64{x, y})
		}
	}
	return pts
}
