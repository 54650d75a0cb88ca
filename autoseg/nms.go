package autoseg

import "sort"

// nms is torchvision's batched_nms with one category (its CPU nms
// kernel): masks sorted by predicted IoU, highest first (stable), each
// dropping the later ones whose box overlaps it by an IoU above thr. Boxes
// are the inclusive pixel boxes taken as x0,y0,x1,y1 floats, as the
// reference passes them, so a one-pixel-wide box has no area. The overlap
// is computed in float32 and compared in float64, as the kernel does.
func nms(ms []Mask, thr float64) []Mask {
	order := make([]int, len(ms))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ms[order[a]].PredictedIoU > ms[order[b]].PredictedIoU })
	area := func(b [4]int) float32 { return float32(b[2]-b[0]) * float32(b[3]-b[1]) }
	suppressed := make([]bool, len(ms))
	var keep []Mask
	for k, i := range order {
		if suppressed[i] {
			continue
		}
		keep = append(keep, ms[i])
		bi := ms[i].Box
		ai := area(bi)
		for _, j := range order[k+1:] {
			if suppressed[j] {
				continue
			}
			bj := ms[j].Box
			w := float32(max(0, min(bi[2], bj[2])-max(bi[0], bj[0])))
			h := float32(max(0, min(bi[3], bj[3])-max(bi[1], bj[1])))
			inter := w * h
			if ovr := inter / (ai + area(bj) - inter); float64(ovr) > thr {
				suppressed[j] = true
			}
		}
	}
	return keep
}
