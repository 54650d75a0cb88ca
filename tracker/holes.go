package tracker

import "github.com/vidseg/vidseg/memory"

// DefaultFillHoleArea is the official predictor's hole filling:
// build_sam2_video_predictor sets fill_hole_area=8.
const DefaultFillHoleArea = 8

// holeFillScore is the logit the reference writes into a filled hole: a
// small positive score, so the pixel becomes foreground.
const holeFillScore = 0.1

// holeFiller is SAM 2's fill_holes_in_mask_scores on one low-resolution
// mask: every 8-connected background component (logit <= 0) of at most
// maxArea pixels becomes foreground. As the reference's CUDA kernel, a
// component touching the border counts too: "hole" means small background
// region, not enclosed region. Its buffers are reused from call to call.
type holeFiller struct {
	seen  []bool
	stack []int32
	comp  []int32
}

// fill applies the post-processing to logits (size x size) in place.
func (h *holeFiller) fill(logits []float32, size, maxArea int) {
	if maxArea <= 0 || len(logits) != size*size {
		return
	}
	if cap(h.seen) < len(logits) {
		h.seen = make([]bool, len(logits))
	}
	seen := h.seen[:len(logits)]
	clear(seen)
	for start, v := range logits {
		if v > 0 || seen[start] {
			continue
		}
		// Flood one background component, remembering at most maxArea+1 of
		// its pixels: beyond that it is not a hole, but it must still be
		// walked whole so none of its pixels starts another component.
		seen[start] = true
		h.stack = append(h.stack[:0], int32(start))
		h.comp = h.comp[:0]
		n := 0
		for len(h.stack) > 0 {
			p := int(h.stack[len(h.stack)-1])
			h.stack = h.stack[:len(h.stack)-1]
			n++
			if n <= maxArea {
				h.comp = append(h.comp, int32(p))
			}
			y, x := p/size, p%size
			for dy := -1; dy <= 1; dy++ {
				yy := y + dy
				if yy < 0 || yy >= size {
					continue
				}
				for dx := -1; dx <= 1; dx++ {
					xx := x + dx
					if xx < 0 || xx >= size {
						continue
					}
					q := yy*size + xx
					if !seen[q] && logits[q] <= 0 {
						seen[q] = true
						h.stack = append(h.stack, int32(q))
					}
				}
			}
		}
		if n <= maxArea {
			for _, p := range h.comp {
				logits[p] = holeFillScore
			}
		}
	}
}

// fillHoles applies Config.FillHoleArea to an entry's output logits.
func (t *Tracker) fillHoles(e *memory.Entry) {
	t.holes.fill(e.Logits, t.man.MaskSize, t.cfg.FillHoleArea)
}
