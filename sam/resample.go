package sam

import (
	"fmt"
	"runtime"
	"sync"
)

// axis holds, for each output index along one axis, the two source indices
// and weights of torch's bilinear interpolation with align_corners=False.
type axis struct {
	i0, i1 []int
	w0, w1 []float32
}

// newAxis follows ATen's bilinear index computation on CPU for float32
// tensors: the scale in/out is a float32, but the source index
// scale*(dst+0.5) - 0.5 is evaluated in double (the 0.5 literals are
// doubles) and only the weight is rounded to float32. Doing it all in
// float32 is off by up to ~1e-5 for non-integer scales.
func newAxis(in, out int) axis {
	a := axis{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	scale := float64(float32(in) / float32(out))
	for d := range out {
		src := max(scale*(float64(d)+0.5)-0.5, 0)
		i0 := int(src)
		l1 := float32(min(max(src-float64(i0), 0), 1))
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		a.i0[d], a.i1[d], a.w0[d], a.w1[d] = i0, i1, 1-l1, l1
	}
	return a
}

// hrow interpolates source row y of src (width sw) into out along x.
func (a *axis) hrow(src []float32, sw, y int, out []float32) {
	row := src[y*sw : (y+1)*sw]
	for x := range out {
		out[x] = row[a.i0[x]]*a.w0[x] + row[a.i1[x]]*a.w1[x]
	}
}

// bilinear calls emit(y, row) for every output row of the sw x sh -> dw x dh
// resize; row is only valid during the call. Bands of rows run on
// separate goroutines (a 1024x1024 upsample is ~10 ms on one core, per
// object and frame), so emit must only touch what belongs to row y.
func bilinear(src []float32, sw, sh, dw, dh int, emit func(y int, row []float32)) {
	ax, ay := newAxis(sw, dw), newAxis(sh, dh)
	bands := min(runtime.GOMAXPROCS(0), max(dw*dh/(128<<10), 1), dh)
	if bands == 1 {
		bilinearRows(src, sw, &ax, &ay, 0, dh, emit)
		return
	}
	var wg sync.WaitGroup
	for b := range bands {
		y0, y1 := b*dh/bands, (b+1)*dh/bands
		wg.Add(1)
		go func() {
			defer wg.Done()
			bilinearRows(src, sw, &ax, &ay, y0, y1, emit)
		}()
	}
	wg.Wait()
}

// bilinearRows emits output rows [from, to).
func bilinearRows(src []float32, sw int, ax, ay *axis, from, to int, emit func(y int, row []float32)) {
	dw := len(ax.i0)
	// Horizontally interpolated source rows, cached because neighbouring
	// output rows mostly read the same two source rows.
	r0, r1 := make([]float32, dw), make([]float32, dw)
	c0, c1 := -1, -1
	out := make([]float32, dw)
	for y := from; y < to; y++ {
		y0, y1 := ay.i0[y], ay.i1[y]
		if y0 != c0 {
			if y0 == c1 {
				r0, r1 = r1, r0
				c0, c1 = c1, c0
			} else {
				ax.hrow(src, sw, y0, r0)
				c0 = y0
			}
		}
		if y1 != c1 {
			ax.hrow(src, sw, y1, r1)
			c1 = y1
		}
		h0, h1 := ay.w0[y], ay.w1[y]
		for x := range out {
			out[x] = r0[x]*h0 + r1[x]*h1
		}
		emit(y, out)
	}
}

func checkResize(fn string, src []float32, sw, sh, dst, dw, dh int) {
	if sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 {
		panic(fmt.Sprintf("sam.%s: sizes %dx%d -> %dx%d must be positive", fn, sw, sh, dw, dh))
	}
	if len(src) < sw*sh {
		panic(fmt.Sprintf("sam.%s: source has %d values, want %dx%d", fn, len(src), sw, sh))
	}
	if dst < dw*dh {
		panic(fmt.Sprintf("sam.%s: destination has %d values, want %dx%d", fn, dst, dw, dh))
	}
}

// UpsampleBilinear resizes the sw x sh plane src into the dw x dh plane dst
// as torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
// does on CPU (no antialiasing), in float32. Despite the name it also
// shrinks, with the same formula. It panics when a slice is shorter than
// its size, a programming error.
func UpsampleBilinear(src []float32, sw, sh int, dst []float32, dw, dh int) {
	checkResize("UpsampleBilinear", src, sw, sh, len(dst), dw, dh)
	bilinear(src, sw, sh, dw, dh, func(y int, row []float32) {
		copy(dst[y*dw:(y+1)*dw], row)
	})
}

// MaskToSource turns size x size low-res mask logits into a w x h binary
// mask (1 = object) at the source video's resolution, as SAM 2's
// _get_orig_video_res_output does: bilinear resize with align_corners=False
// then logits > 0. It panics when a slice is shorter than its size.
func MaskToSource(logits []float32, size, w, h int, dst []byte) {
	checkResize("MaskToSource", logits, size, size, len(dst), w, h)
	bilinear(logits, size, size, w, h, func(y int, row []float32) {
		out := dst[y*w : (y+1)*w]
		for x, v := range row {
			if v > 0 {
				out[x] = 1
			} else {
				out[x] = 0
			}
		}
	})
}

// BilinearRows resizes the sw x sh plane src to dw x dh as
// [UpsampleBilinear] does, but hands each output row to emit instead of
// storing the plane: a caller that only thresholds or counts the result
// (mask post-processing) needs no dw x dh float buffer. Rows come from
// several goroutines at once on large outputs, so emit may only touch what
// belongs to row y; row is valid only during the call. It panics when src
// is shorter than its size.
func BilinearRows(src []float32, sw, sh, dw, dh int, emit func(y int, row []float32)) {
	checkResize("BilinearRows", src, sw, sh, dw*dh, dw, dh)
	bilinear(src, sw, sh, dw, dh, emit)
}
