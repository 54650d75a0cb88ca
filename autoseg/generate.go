package autoseg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/sam"
)

// Model is what Generate needs of a *sam.Model.
type Model interface {
	Manifest() *sam.Manifest
	Constant(name string) ([]float32, error)
	DecodeMasksShared(ctx context.Context, imageEmbed []float32, f *sam.Features, prompts []sam.Prompt) ([]sam.Candidates, error)
}

// Mask is one mask found, with what the reference generator records of it.
type Mask struct {
	RLE  mask.RLE // source-size binary mask
	Area int      // foreground pixels
	// Box is batched_mask_to_box's: the first and last columns and rows of
	// the mask, inclusive (x0, y0, x1, y1); all zero for an empty mask.
	Box            [4]int
	PredictedIoU   float32
	StabilityScore float32
	Point          [2]float64 // the grid click that made it, in source pixels
	Candidate      int        // the decoder token it came from: 1..3 multimask, 0 single
}

// BBoxXYWH is the reference's "bbox": Box as x, y, width, height, with
// width x1-x0 (the inclusive box's span, as box_xyxy_to_xywh computes it).
func (m *Mask) BBoxXYWH() [4]int {
	return [4]int{m.Box[0], m.Box[1], m.Box[2] - m.Box[0], m.Box[3] - m.Box[1]}
}

// Stats count one Generate call's work.
type Stats struct {
	Points     int           // grid prompts
	Runs       int           // mask decoder runs (m2m refinement included)
	Candidates int           // masks the decoder returned
	Kept       int           // masks that passed the IoU and stability filters, before NMS
	Decoder    time.Duration // in the mask decoder
	Post       time.Duration // Go post-processing: upscaling, filters, RLE, NMS
}

// candidate is one decoder mask on its way through the filters.
type candidate struct {
	logits []float32 // low-res logits, mask_size^2
	iou    float32
	point  [2]float32 // source pixels
	model  [2]float32 // model coordinates
	token  int
}

// Generate finds every mask of a frame of width x height source pixels
// whose image features are f, as SAM2AutomaticMaskGenerator.generate does
// with crop_n_layers 0. The masks come in the reference's order (box NMS
// keeps them by descending predicted IoU).
func Generate(ctx context.Context, m Model, f *sam.Features, width, height int, p Params) ([]Mask, Stats, error) {
	var st Stats
	if err := p.Validate(); err != nil {
		return nil, st, err
	}
	if width <= 0 || height <= 0 {
		return nil, st, fmt.Errorf("autoseg: frame size %dx%d", width, height)
	}
	if f == nil {
		return nil, st, errors.New("autoseg: nil features")
	}
	man := m.Manifest()
	// SAM2ImagePredictor's image embedding: the top level plus no_mem_embed.
	noMem, err := m.Constant("no_mem_embed")
	if err != nil {
		return nil, st, fmt.Errorf("autoseg: %w", err)
	}
	embed, err := addChannelBias(f.VisionFeat, noMem)
	if err != nil {
		return nil, st, err
	}
	g := &generator{m: m, man: man, f: f, embed: embed, w: width, h: height, p: p, st: &st}

	grid := Grid(p.PointsPerSide)
	st.Points = len(grid)
	size := float32(man.ImageSize)
	var kept []Mask
	for lo := 0; lo < len(grid); lo += p.PointsPerBatch {
		hi := min(lo+p.PointsPerBatch, len(grid))
		pts := make([][2]float32, hi-lo)
		model := make([][2]float32, hi-lo)
		for i, q := range grid[lo:hi] {
			// points_for_image (float64) as a float32 tensor, then
			// transform_coords: /w, /h and *resolution, in float32.
			x, y := float32(q[0]*float64(width)), float32(q[1]*float64(height))
			pts[i] = [2]float32{x, y}
			model[i] = [2]float32{x / float32(width) * size, y / float32(height) * size}
		}
		got, err := g.batch(ctx, pts, model)
		if err != nil {
			return nil, st, err
		}
		kept = append(kept, got...)
	}
	st.Kept = len(kept)
	begin := time.Now()
	kept = nms(kept, p.BoxNMSThresh)
	st.Post += time.Since(begin)
	return kept, st, nil
}

type generator struct {
	m     Model
	man   *sam.Manifest
	f     *sam.Features
	embed []float32
	w, h  int
	p     Params
	st    *Stats
}

// decode runs prompts through the decoder, timed and counted.
func (g *generator) decode(ctx context.Context, prompts []sam.Prompt) ([]sam.Candidates, error) {
	begin := time.Now()
	c, err := g.m.DecodeMasksShared(ctx, g.embed, g.f, prompts)
	g.st.Decoder += time.Since(begin)
	g.st.Runs++
	if err != nil {
		return nil, fmt.Errorf("autoseg: %w", err)
	}
	return c, nil
}

// batch is _process_batch: one decoder run for a batch of grid points,
// then the filters; it returns the masks kept, in the batch's order.
func (g *generator) batch(ctx context.Context, pts, model [][2]float32) ([]Mask, error) {
	prompts := make([]sam.Prompt, len(model))
	for i, c := range model {
		prompts[i] = sam.Prompt{Coords: [][2]float32{c}, Labels: []float32{1}}
	}
	out, err := g.decode(ctx, prompts)
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for i, c := range out {
		if g.p.MultimaskOutput {
			for t := 1; t < 4; t++ {
				cands = append(cands, candidate{c.Masks[t], c.IoU[t], pts[i], model[i], t})
			}
		} else {
			t := g.single(&c)
			cands = append(cands, candidate{c.Masks[t], c.IoU[t], pts[i], model[i], t})
		}
	}
	g.st.Candidates += len(cands)
	if g.p.UseM2M {
		if cands, err = g.refine(ctx, cands); err != nil {
			return nil, err
		}
	}
	begin := time.Now()
	defer func() { g.st.Post += time.Since(begin) }()
	if g.p.PredIoUThresh > 0 {
		thr := float32(g.p.PredIoUThresh)
		n := 0
		for _, c := range cands {
			if c.iou > thr {
				cands[n] = c
				n++
			}
		}
		cands = cands[:n]
	}
	masks := make([]*Mask, len(cands))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(cands)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				masks[i] = g.post(cands[i])
			}
		}()
	}
	for i := range cands {
		next <- i
	}
	close(next)
	wg.Wait()
	var kept []Mask
	for _, m := range masks {
		if m != nil {
			kept = append(kept, *m)
		}
	}
	return kept, nil
}

// single is the mask decoder's choice without multimask output
// (_dynamic_multimask_via_stability): the single-mask token unless it is
// unstable, then the best multimask token.
func (g *generator) single(c *sam.Candidates) int {
	if !g.man.DynamicMultimaskViaStability {
		return 0
	}
	if sam.StabilityScore(c.Masks[0], float32(g.man.DynamicMultimaskStabilityDelta)) >= float32(g.man.DynamicMultimaskStabilityThresh) {
		return 0
	}
	best := 1
	for t := 2; t < 4; t++ {
		if c.IoU[t] > c.IoU[best] {
			best = t
		}
	}
	return best
}

// refine is refine_with_m2m: every candidate runs again with its own
// low-res logits (clamped to +-32) as the mask prompt, single output.
func (g *generator) refine(ctx context.Context, cands []candidate) ([]candidate, error) {
	out := make([]candidate, 0, len(cands))
	for lo := 0; lo < len(cands); lo += g.p.PointsPerBatch {
		part := cands[lo:min(lo+g.p.PointsPerBatch, len(cands))]
		prompts := make([]sam.Prompt, len(part))
		for i, c := range part {
			in := make([]float32, len(c.logits))
			for k, v := range c.logits {
				in[k] = min(max(v, -32), 32)
			}
			prompts[i] = sam.Prompt{Coords: [][2]float32{c.model}, Labels: []float32{1}, MaskInput: in}
		}
		res, err := g.decode(ctx, prompts)
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			t := g.single(&r)
			out = append(out, candidate{r.Masks[t], r.IoU[t], part[i].point, part[i].model, t})
		}
	}
	return out, nil
}

// post upscales one candidate to the source size as
// SAM2Transforms.postprocess_masks does (bilinear, align_corners=False),
// computes its stability score there (calculate_stability_score) and, if it
// passes, its binary mask, box and RLE. It returns nil for a dropped mask.
func (g *generator) post(c candidate) *Mask {
	ms := g.man.MaskSize
	logits := c.logits
	if g.p.MinMaskRegionArea > 0 {
		logits = fillSmallRegions(logits, ms, float32(g.p.MaskThreshold), g.p.MinMaskRegionArea)
	}
	w, h := g.w, g.h
	thr := float32(g.p.MaskThreshold)
	hiT := float32(g.p.MaskThreshold + g.p.StabilityScoreOffset)
	loT := float32(g.p.MaskThreshold - g.p.StabilityScoreOffset)
	inter, union := make([]int32, h), make([]int32, h)
	bin := make([]byte, w*h)
	sam.BilinearRows(logits, ms, ms, w, h, func(y int, row []float32) {
		var a, b int32
		out := bin[y*w : (y+1)*w]
		for x, v := range row {
			if v > hiT {
				a++
			}
			if v > loT {
				b++
			}
			if v > thr {
				out[x] = 1
			}
		}
		inter[y], union[y] = a, b
	})
	var in, un int32
	for y := range h {
		in += inter[y]
		un += union[y]
	}
	score := float32(math.NaN()) // 0/0, as torch divides
	if un != 0 {
		score = float32(in) / float32(un)
	}
	if g.p.StabilityScoreThresh > 0 && !(score >= float32(g.p.StabilityScoreThresh)) {
		return nil
	}
	rle, err := mask.EncodeRLE(bin, w, h)
	if err != nil { // the sizes are ours: cannot happen
		panic(err)
	}
	return &Mask{RLE: rle, Area: rle.Area(), Box: boxOf(bin, w, h), PredictedIoU: c.iou, StabilityScore: score,
		Point: [2]float64{float64(c.point[0]), float64(c.point[1])}, Candidate: c.token}
}

// boxOf is batched_mask_to_box for one mask.
func boxOf(m []byte, w, h int) [4]int {
	x0, y0, x1, y1 := w, h, -1, -1
	for y := range h {
		row := m[y*w : (y+1)*w]
		for x, v := range row {
			if v != 0 {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return [4]int{}
	}
	return [4]int{x0, y0, x1, y1}
}

// addChannelBias returns x (C planes) with b[c] added to plane c.
func addChannelBias(x, b []float32) ([]float32, error) {
	if len(b) == 0 || len(x)%len(b) != 0 {
		return nil, fmt.Errorf("autoseg: %d features do not split into %d channels", len(x), len(b))
	}
	out := make([]float32, len(x))
	hw := len(x) / len(b)
	for c, v := range b {
		for i := c * hw; i < (c+1)*hw; i++ {
			out[i] = x[i] + v
		}
	}
	return out, nil
}
