package kalman

// Box is an axis-aligned box in pixel coordinates, corners inclusive as
// SAMURAI takes them from a mask: X0, Y0 are the smallest foreground column
// and row, X1, Y1 the largest. SAMURAI adds no +1, so a one-pixel mask has
// width and height 0. The zero Box is SAMURAI's [0, 0, 0, 0] "no mask".
type Box struct {
	X0, Y0, X1, Y1 float64
}

// XYAH is a box as the filter measures it: centre (CX, CY), aspect ratio
// A = width/height, and height H.
type XYAH struct {
	CX, CY, A, H float64
}

// ToXYAH converts b as SAMURAI's xyxy_to_xyah does: a zero height is taken
// as 1 (for both the ratio and the height) so the ratio stays finite.
func (b Box) ToXYAH() XYAH {
	w := b.X1 - b.X0
	h := b.Y1 - b.Y0
	if h == 0 {
		h = 1
	}
	return XYAH{CX: (b.X0 + b.X1) / 2, CY: (b.Y0 + b.Y1) / 2, A: w / h, H: h}
}

// Box converts m back to corners as SAMURAI's xyah_to_xyxy does.
func (m XYAH) Box() Box {
	return Box{
		X0: m.CX - m.A*m.H/2,
		Y0: m.CY - m.H/2,
		X1: m.CX + m.A*m.H/2,
		Y1: m.CY + m.H/2,
	}
}

// IoU is SAMURAI's box IoU (KalmanFilter._compute_iou) of the predicted box
// pred and a candidate box: areas are (X1-X0)*(Y1-Y0) with no +1; a zero
// candidate (the box of an empty mask) scores 0, as does a zero union.
// It is not symmetric: only the candidate is checked for being zero.
func IoU(pred, cand Box) float64 {
	if cand == (Box{}) {
		return 0
	}
	iw := pyMax(0, pyMin(pred.X1, cand.X1)-pyMax(pred.X0, cand.X0))
	ih := pyMax(0, pyMin(pred.Y1, cand.Y1)-pyMax(pred.Y0, cand.Y0))
	inter := iw * ih
	union := (pred.X1-pred.X0)*(pred.Y1-pred.Y0) + (cand.X1-cand.X0)*(cand.Y1-cand.Y0) - inter
	if union == 0 {
		return 0
	}
	return inter / union
}

// MaskBox is the box SAMURAI measures on a mask of logits, row-major w x h:
// the extreme rows and columns of the pixels with logit > 0 (torch.argwhere
// then min/max), or the zero Box when none is.
func MaskBox(logits []float32, w, h int) Box {
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h && (y+1)*w <= len(logits); y++ {
		for x, v := range logits[y*w : (y+1)*w] {
			if v > 0 {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return Box{}
	}
	return Box{X0: float64(x0), Y0: float64(y0), X1: float64(x1), Y1: float64(y1)}
}

// pyMax and pyMin are Python's max(a, b) and min(a, b) for two floats,
// which keep a unless b compares strictly greater (smaller); they differ
// from math.Max and math.Min only on NaN.
func pyMax(a, b float64) float64 {
	if b > a {
		return b
	}
	return a
}

func pyMin(a, b float64) float64 {
	if b < a {
		return b
	}
	return a
}
