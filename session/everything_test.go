package session

import (
	"testing"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/mask"
)

func rectMask(t *testing.T, w, h, x0, y0, x1, y1 int, iou float32) autoseg.Mask {
	t.Helper()
	bin := make([]byte, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			bin[y*w+x] = 1
		}
	}
	rle, err := mask.EncodeRLE(bin, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return autoseg.Mask{RLE: rle, Area: rle.Area(), Box: [4]int{x0, y0, x1 - 1, y1 - 1}, PredictedIoU: iou}
}

// What discovery and segment-everything add: masks that tracked objects
// do not cover (a mask over a tracked object is that object), each
// counted once (a part inside a whole added before it is the whole's),
// up to the room left.
func TestNewMasks(t *testing.T) {
	const w, h = 40, 30
	taken := make([]byte, w*h)
	for y := 0; y < 10; y++ {
		for x := 0; x < 10; x++ {
			taken[y*w+x] = 1 // object 1, tracked
		}
	}
	masks := []autoseg.Mask{
		rectMask(t, w, h, 0, 0, 10, 10, 0.99),  // object 1 again
		rectMask(t, w, h, 2, 2, 14, 12, 0.98),  // mostly object 1 (70 of 120 px)
		rectMask(t, w, h, 20, 0, 30, 10, 0.97), // came in: new
		rectMask(t, w, h, 22, 2, 28, 8, 0.96),  // a part of it: not new
		rectMask(t, w, h, 0, 20, 10, 30, 0.95), // another newcomer
		rectMask(t, w, h, 30, 20, 40, 30, 0.94),
	}
	keep, overlapping, capped, err := newMasks(masks, append([]byte(nil), taken...), 0.5, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(keep) != 2 || keep[0].PredictedIoU != 0.97 || keep[1].PredictedIoU != 0.95 || overlapping != 3 || capped != 1 {
		t.Fatalf("kept %d (%v), overlapping %d, capped %d; want the masks of 0.97 and 0.95, 3 overlapping, 1 over the cap", len(keep), keep, overlapping, capped)
	}
	// Overlap 1: only what lies wholly under objects is theirs.
	keep, overlapping, _, _ = newMasks(masks, append([]byte(nil), taken...), 1, 10)
	if len(keep) != 6 || overlapping != 0 {
		t.Errorf("overlap 1: kept %d, overlapping %d; want all 6", len(keep), overlapping)
	}
}
