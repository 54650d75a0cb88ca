package tracker

import (
	"context"
	"fmt"
	"math"

	"github.com/vidseg/vidseg/memory"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
)

// maskAsOutput takes a mask prompt as the frame's output without the SAM
// heads deciding the mask (use_mask_input_as_output_without_sam): the mask
// becomes +/-10 logits, and the decoder runs only for the object pointer.
func (t *Tracker) maskAsOutput(ctx context.Context, p prompt.Prompt, feats *sam.Features) (*memory.Entry, error) {
	size, low := t.man.ImageSize, t.man.MaskSize
	bin, err := p.Mask.Decode()
	if err != nil {
		return nil, err
	}
	src := make([]float32, len(bin))
	for i, v := range bin {
		if v != 0 {
			src[i] = 1
		}
	}
	// add_new_mask: resize to the model size (antialiased bilinear), >= 0.5.
	m := resizeAA(src, t.width, t.height, size, size)
	present := false
	for i, v := range m {
		if v >= 0.5 {
			m[i], present = 1, true
		} else {
			m[i] = 0
		}
	}
	high := make([]float32, len(m))
	for i, v := range m {
		high[i] = v*20 - 10
	}
	logits := resizeAA(high, size, size, low, low)

	w, err := t.m.Constant("mask_downsample_weight")
	if err != nil {
		return nil, err
	}
	b, err := t.m.Constant("mask_downsample_bias")
	if err != nil {
		return nil, err
	}
	prompt := sam.Prompt{
		Coords:    [][2]float32{{0, 0}},
		Labels:    []float32{-1},
		MaskInput: conv4x4(m, size, w, b[0]),
	}
	cs, err := t.m.DecodeMasksBatch(ctx, feats.VisionFeat, feats, []sam.Prompt{prompt})
	if err != nil {
		return nil, fmt.Errorf("mask prompt: %w", err)
	}
	c := &cs[0]
	e := &memory.Entry{Frame: p.Frame, Logits: logits, IoU: 1, Candidate: 0}
	if present {
		e.ObjectScore = 10
		e.Ptr = append([]float32(nil), c.ObjPtr[0]...)
	} else {
		e.ObjectScore = -10
		e.Ptr = append([]float32(nil), t.noObjPtr...)
	}
	return e, nil
}

// conv4x4 is SAM2Base.mask_downsample: a 1->1 channel 4x4 convolution with
// stride 4 (weights row-major [1,1,4,4]).
func conv4x4(m []float32, size int, w []float32, bias float32) []float32 {
	out := size / 4
	dst := make([]float32, out*out)
	for oy := 0; oy < out; oy++ {
		for ox := 0; ox < out; ox++ {
			s := bias
			for ky := 0; ky < 4; ky++ {
				row := m[(oy*4+ky)*size+ox*4:]
				for kx := 0; kx < 4; kx++ {
					s += row[kx] * w[ky*4+kx]
				}
			}
			dst[oy*out+ox] = s
		}
	}
	return dst
}

// resizeAA is torch's F.interpolate(mode="bilinear", align_corners=False,
// antialias=True) for one channel: separable triangle filters whose support
// widens with the downscale factor (as PIL).
func resizeAA(src []float32, sw, sh, dw, dh int) []float32 {
	tmp := make([]float32, dw*sh)
	xi, xw := aaWeights(sw, dw)
	for y := 0; y < sh; y++ {
		row := src[y*sw : (y+1)*sw]
		for x := 0; x < dw; x++ {
			var s float32
			for k, wt := range xw[x] {
				s += row[xi[x]+k] * wt
			}
			tmp[y*dw+x] = s
		}
	}
	dst := make([]float32, dw*dh)
	yi, yw := aaWeights(sh, dh)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var s float32
			for k, wt := range yw[y] {
				s += tmp[(yi[y]+k)*dw+x] * wt
			}
			dst[y*dw+x] = s
		}
	}
	return dst
}

// aaWeights computes, per output index, the first input index and the
// normalized filter weights (_compute_indices_min_size_weights_aa).
func aaWeights(in, out int) ([]int, [][]float32) {
	scale := float64(in) / float64(out)
	support, invscale := 1.0, 1.0
	if scale >= 1 {
		support, invscale = scale, 1/scale
	}
	starts := make([]int, out)
	weights := make([][]float32, out)
	for i := 0; i < out; i++ {
		center := scale * (float64(i) + 0.5)
		xmin := max(int(center-support+0.5), 0)
		xsize := min(int(center+support+0.5), in) - xmin
		ws := make([]float64, xsize)
		var total float64
		for j := range ws {
			x := math.Abs((float64(j+xmin) - center + 0.5) * invscale)
			if x < 1 {
				ws[j] = 1 - x
			}
			total += ws[j]
		}
		w32 := make([]float32, xsize)
		for j, v := range ws {
			if total != 0 {
				w32[j] = float32(v / total)
			}
		}
		starts[i], weights[i] = xmin, w32
	}
	return starts, weights
}
