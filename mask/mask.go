package mask

import (
	"fmt"
	"image"
)

// BBox is the bounding rectangle of the foreground of the row-major w x h
// mask m, Max exclusive (COCO's [x, y, w, h] is Min.X, Min.Y, Dx(), Dy());
// the zero Rectangle when m is empty.
func BBox(m []byte, w, h int) (image.Rectangle, error) {
	if err := checkSize(len(m), w, h); err != nil {
		return image.Rectangle{}, err
	}
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		for x, v := range m[y*w : (y+1)*w] {
			if v != 0 {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return image.Rectangle{}, nil
	}
	return image.Rect(x0, y0, x1+1, y1+1), nil
}

// IoU is |A∩B| / |A∪B| of two masks of the same size (non-zero =
// foreground). Two empty masks give 1, DAVIS's convention for J
// (pycocotools' iou would give 0).
func IoU(a, b []byte) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("mask: iou of masks of %d and %d pixels", len(a), len(b))
	}
	var inter, union int
	for i, va := range a {
		fa, fb := va != 0, b[i] != 0
		if fa && fb {
			inter++
		}
		if fa || fb {
			union++
		}
	}
	if union == 0 {
		return 1, nil
	}
	return float64(inter) / float64(union), nil
}

// Box is a rectangle in source-frame pixels: a prompt's box (corners), or
// a mask's bounding box (X1, Y1 exclusive, as image.Rectangle's Max).
type Box struct {
	X0 float32 `json:"x0"`
	Y0 float32 `json:"y0"`
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
}

// BoxOf converts a rectangle (such as BBox's) to a Box.
func BoxOf(r image.Rectangle) Box {
	return Box{X0: float32(r.Min.X), Y0: float32(r.Min.Y), X1: float32(r.Max.X), Y1: float32(r.Max.Y)}
}
