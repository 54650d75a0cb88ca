package autoseg

// fillSmallRegions is SAM2Transforms.postprocess_masks' clean-up with
// max_hole_area = max_sprinkle_area = maxArea (what the generator's
// min_mask_region_area sets), on one size x size low-res mask: background
// regions (8-connected, logits <= thr) of at most maxArea pixels become
// foreground (thr+10), then foreground regions of at most maxArea pixels
// of the original mask become background (thr-10). The reference runs it
// with its CUDA connected-components kernel; without that kernel (on CPU)
// it warns and skips it.
func fillSmallRegions(logits []float32, size int, thr float32, maxArea int) []float32 {
	out := append([]float32(nil), logits...)
	holes := smallRegions(logits, size, func(v float32) bool { return v <= thr }, maxArea)
	sprinkles := smallRegions(logits, size, func(v float32) bool { return v > thr }, maxArea)
	for i := range out {
		if holes[i] {
			out[i] = thr + 10
		}
	}
	for i := range out {
		if sprinkles[i] {
			out[i] = thr - 10
		}
	}
	return out
}

// smallRegions marks the pixels of the 8-connected regions of in(v) that
// have at most maxArea pixels.
func smallRegions(logits []float32, size int, in func(float32) bool, maxArea int) []bool {
	label := make([]int32, len(logits))
	small := make([]bool, len(logits))
	var stack, region []int
	var next int32
	for start, v := range logits {
		if label[start] != 0 || !in(v) {
			continue
		}
		next++
		label[start] = next
		stack, region = append(stack[:0], start), region[:0]
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			region = append(region, p)
			px, py := p%size, p/size
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					x, y := px+dx, py+dy
					if x < 0 || y < 0 || x >= size || y >= size {
						continue
					}
					q := y*size + x
					if label[q] == 0 && in(logits[q]) {
						label[q] = next
						stack = append(stack, q)
					}
				}
			}
		}
		if len(region) <= maxArea {
			for _, p := range region {
				small[p] = true
			}
		}
	}
	return small
}
