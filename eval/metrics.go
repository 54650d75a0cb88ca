// Package eval scores video object segmentation as the DAVIS 2017
// benchmark does (davis2017-evaluation, semi-supervised task): region
// similarity J, boundary accuracy F, and their mean, recall and decay per
// object. docs/eval.md states what was matched against the official code.
package eval

import (
	"fmt"
	"math"
)

// boundTh is db_eval_boundary's bound_th: the boundary tolerance as a
// fraction of the image diagonal.
const boundTh = 0.008

// Jaccard is db_eval_iou for one frame: |gt ∩ pred| / |gt ∪ pred| on
// row-major masks (non-zero = foreground), 1 when both are empty.
func Jaccard(gt, pred []byte) (float64, error) {
	if len(gt) != len(pred) {
		return 0, fmt.Errorf("eval: ground truth has %d pixels, prediction %d", len(gt), len(pred))
	}
	var inter, union int
	for i, g := range gt {
		a, b := g != 0, pred[i] != 0
		if a && b {
			inter++
		}
		if a || b {
			union++
		}
	}
	if union == 0 {
		return 1, nil
	}
	return float64(inter) / float64(union), nil
}

// BoundaryF is db_eval_boundary (f_measure) for one w x h frame: the
// boundaries of both masks (seg2bmap) are matched within a disk of radius
// ceil(0.008 * diagonal) pixels, and F = 2PR/(P+R). An empty prediction
// boundary against a non-empty one scores P=1, R=0; the reverse P=0, R=1;
// both empty P=R=1.
func BoundaryF(gt, pred []byte, w, h int) (float64, error) {
	if w <= 0 || h <= 0 || len(gt) != w*h || len(pred) != w*h {
		return 0, fmt.Errorf("eval: masks of %d and %d pixels for a %dx%d frame", len(gt), len(pred), w, h)
	}
	r := boundPix(w, h)
	fgB := seg2bmap(pred, w, h)
	gtB := seg2bmap(gt, w, h)
	fgRows := rowCounts(fgB, w, h)
	gtRows := rowCounts(gtB, w, h)
	span := diskSpans(r)

	nFg, fgMatch := matchBoundary(fgB, gtRows, span, w, h)
	nGt, gtMatch := matchBoundary(gtB, fgRows, span, w, h)

	var precision, recall float64
	switch {
	case nFg == 0 && nGt > 0:
		precision, recall = 1, 0
	case nFg > 0 && nGt == 0:
		precision, recall = 0, 1
	case nFg == 0 && nGt == 0:
		precision, recall = 1, 1
	default:
		precision = float64(fgMatch) / float64(nFg)
		recall = float64(gtMatch) / float64(nGt)
	}
	if precision+recall == 0 {
		return 0, nil
	}
	return 2 * precision * recall / (precision + recall), nil
}

// boundPix is np.ceil(bound_th * np.linalg.norm((h, w))).
func boundPix(w, h int) int {
	return int(math.Ceil(boundTh * math.Sqrt(float64(h*h+w*w))))
}

// seg2bmap is DAVIS's _seg2bmap: a pixel is boundary when it differs from
// its right, lower or lower-right neighbour (outside the image counts as
// background); the last row compares only to the right, the last column
// only downwards, and the bottom-right pixel is never boundary.
func seg2bmap(seg []byte, w, h int) []bool {
	at := func(x, y int) bool { return x < w && y < h && seg[y*w+x] != 0 }
	b := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s := at(x, y)
			switch {
			case x == w-1 && y == h-1:
				// b[-1, -1] = 0
			case x == w-1:
				b[y*w+x] = s != at(x, y+1)
			case y == h-1:
				b[y*w+x] = s != at(x+1, y)
			default:
				b[y*w+x] = s != at(x+1, y) || s != at(x, y+1) || s != at(x+1, y+1)
			}
		}
	}
	return b
}

// rowCounts holds, per row, prefix counts of boundary pixels: row y's
// count over columns [a, b) is c[y*(w+1)+b] - c[y*(w+1)+a].
func rowCounts(b []bool, w, h int) []int32 {
	c := make([]int32, h*(w+1))
	for y := 0; y < h; y++ {
		row := c[y*(w+1) : (y+1)*(w+1)]
		for x := 0; x < w; x++ {
			row[x+1] = row[x]
			if b[y*w+x] {
				row[x+1]++
			}
		}
	}
	return c
}

// diskSpans is skimage.morphology.disk(r) as half-widths per row offset:
// offset dy in [-r, r] covers dx in [-span[dy+r], span[dy+r]], the points
// with dx*dx + dy*dy <= r*r.
func diskSpans(r int) []int {
	span := make([]int, 2*r+1)
	for dy := -r; dy <= r; dy++ {
		dx := 0
		for (dx+1)*(dx+1)+dy*dy <= r*r {
			dx++
		}
		span[dy+r] = dx
	}
	return span
}

// matchBoundary counts the boundary pixels of b and those with a pixel of
// the other boundary (given by its row counts) inside the disk around them:
// sum(b * cv2.dilate(other, disk)). Pixels of the disk outside the image
// are ignored, as cv2.dilate's default border does.
func matchBoundary(b []bool, other []int32, span []int, w, h int) (n, matched int) {
	r := len(span) / 2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !b[y*w+x] {
				continue
			}
			n++
			for dy := -r; dy <= r; dy++ {
				yy := y + dy
				if yy < 0 || yy >= h {
					continue
				}
				lo, hi := max(x-span[dy+r], 0), min(x+span[dy+r]+1, w)
				row := other[yy*(w+1):]
				if row[hi]-row[lo] > 0 {
					matched++
					break
				}
			}
		}
	}
	return n, matched
}

// Stats are db_statistics of one object's per-frame values.
type Stats struct {
	// Mean is the mean over frames.
	Mean float64 `json:"mean"`
	// Recall is the fraction of frames scoring above 0.5.
	Recall float64 `json:"recall"`
	// Decay is the mean of the first quarter of the frames minus that of
	// the last quarter (bins as the official code draws them).
	Decay float64 `json:"decay"`
}

// statistics is utils.db_statistics. The official code casts the bin
// bounds to uint8, which wraps past 256 frames; int is used here.
func statistics(v []float64) Stats {
	n := len(v)
	if n == 0 {
		return Stats{Mean: math.NaN(), Recall: math.NaN(), Decay: math.NaN()}
	}
	var s Stats
	for _, x := range v {
		s.Mean += x
		if x > 0.5 {
			s.Recall++
		}
	}
	s.Mean /= float64(n)
	s.Recall /= float64(n)

	// ids = round(linspace(1, n, 5) + 1e-10) - 1, as numpy computes them.
	var ids [5]int
	step := float64(n-1) / 4
	for i := range ids {
		x := float64(i)*step + 1
		if i == 4 {
			x = float64(n)
		}
		ids[i] = int(math.RoundToEven(x+1e-10)) - 1
	}
	bin := func(i int) float64 {
		lo, hi := ids[i], min(ids[i+1]+1, n)
		sum := 0.0
		for _, x := range v[lo:hi] {
			sum += x
		}
		return sum / float64(hi-lo)
	}
	s.Decay = bin(0) - bin(3)
	return s
}
