package sam

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/sam/internal/iobind"
)

// Features are the image encoder's outputs for one frame, in NCHW order
// without the batch dimension. The slices belong to the caller; the
// encoder wrote them in place and the other graphs read them in place.
//
// On a resident model (Options.Resident) ONNX Runtime holds FeatS0, FeatS1
// and VisionPos on its device until [Features.Close]: on the CPU the
// slices are views of that memory, on CUDA they are nil.
type Features struct {
	FeatS0     []float32 // 32x256x256 (hidden_dim/8 x 4F x 4F)
	FeatS1     []float32 // 64x128x128 (hidden_dim/4 x 2F x 2F)
	VisionFeat []float32 // 256x64x64
	VisionPos  []float32 // 256x64x64
	held       *heldFeatures
}

// Candidates are the mask decoder's outputs: every output token's mask, so
// that the caller chooses (SAM 2's argmax or SAMURAI's Kalman-weighted
// choice). Index 0 is the single-mask token, 1..3 the multimask tokens.
type Candidates struct {
	Masks       [4][]float32 // 256x256 raw logits each
	IoU         [4]float32   // predicted IoU of each token
	ObjPtr      [4][]float32 // obj_ptr_proj of each token (256), not blended with no_obj_ptr
	ObjectScore float32      // object-presence logit
}

// Prompt is the input of the prompt encoder, in model (1024) coordinates.
type Prompt struct {
	Coords [][2]float32
	// Labels: 1 positive, 0 negative, 2/3 box corners, -1 padding.
	Labels []float32
	// MaskInput is a low-res mask prompt (256x256 logits), or nil.
	MaskInput []float32
}

// MemoryFrame is one frame of the memory bank: the memory encoder's outputs
// (Manifest.MemoryFrameShape each: 64x64x64 for SAM 2, 512x64 perceiver
// latents for EdgeTAM) and its temporal slot (0 = conditioning frame, 1..6
// recent frames). The model may keep what it gathered from Feat, FeatBF16
// and Pos for the next call: their contents must not change once passed
// (a memory bank's frames never do).
type MemoryFrame struct {
	Feat []float32
	// FeatBF16, used when Feat is nil, is Feat in bfloat16 (the upper half
	// of each float32), as the tracker's memory bank stores it: the model
	// widens it straight into its batched input.
	FeatBF16 []uint16
	Pos      []float32
	Slot     int
}

// Pointer is an object pointer (256) and its frame offset as SAM 2 computes
// it (signed when use_signed_tpos_enc_to_obj_ptrs).
type Pointer struct {
	Vec    []float32
	Offset float32
}

// ObjectMemory is one object's memory for [Model.AttendMemoryBatch]: its
// frames (conditioning frames first, as the reference orders them) and
// its object pointers (may be empty).
type ObjectMemory struct {
	Frames   []MemoryFrame
	Pointers []Pointer
}

// dims derives the tensor sizes from the manifest.
type dims struct {
	S, F, M, H, C int64 // image, feature, mask size; hidden dim; mem dim
	// mem is the shape of one memory frame (Manifest.MemoryFrameShape).
	mem []int64
}

func dimsOf(man *Manifest) dims {
	return dims{int64(man.ImageSize), int64(man.FeatureSize), int64(man.MaskSize), int64(man.HiddenDim), int64(man.MemDim), man.MemoryFrameShape()}
}

// memPer is the number of values of one memory frame.
func (d dims) memPer() int {
	n := 1
	for _, v := range d.mem {
		n *= int(v)
	}
	return n
}

// memShape is lead (batch dims) followed by the memory frame's shape.
func (d dims) memShape(lead ...int64) []int64 {
	return append(lead, d.mem...)
}

func (d dims) s0() (c, h int64) { return d.H / 8, 4 * d.F }
func (d dims) s1() (c, h int64) { return d.H / 4, 2 * d.F }

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// check fails when src does not have n values; what names the argument.
func check(graph, what string, src []float32, n int64) error {
	if int64(len(src)) != n {
		return fmt.Errorf("%s: %s has %d values, want %d", graph, what, len(src), n)
	}
	return nil
}

// Counters count a model's work since it was opened: the runs of each
// graph and the bytes the model copied between Go memory and the graphs'
// inputs and outputs. Inputs and outputs are Go slices that ONNX Runtime
// reads and writes in place, so what counts is what the model had to
// gather into a batch: memory frames (widened from bfloat16), pointers,
// prompts, mask prompts, and inputs of objects that are not next to each
// other in a batch.
type Counters struct {
	ImageEncoder    int64 `json:"image_encoder"`
	MemoryAttention int64 `json:"memory_attention"`
	MaskDecoder     int64 `json:"mask_decoder"`
	MemoryEncoder   int64 `json:"memory_encoder"`
	CopiedBytes     int64 `json:"copied_bytes"`
	// BoundRuns are the runs through IO binding, with inputs or outputs
	// that ONNX Runtime holds (Options.Resident).
	BoundRuns int64 `json:"bound_runs"`
}

// Sub is c - o, for the work between two readings.
func (c Counters) Sub(o Counters) Counters {
	return Counters{c.ImageEncoder - o.ImageEncoder, c.MemoryAttention - o.MemoryAttention,
		c.MaskDecoder - o.MaskDecoder, c.MemoryEncoder - o.MemoryEncoder, c.CopiedBytes - o.CopiedBytes,
		c.BoundRuns - o.BoundRuns}
}

// Counters returns the work counted since the model was opened. It may be
// called while another goroutine runs the model.
func (m *Model) Counters() Counters {
	c := &m.count
	return Counters{c.enc.Load(), c.attn.Load(), c.dec.Load(), c.memEnc.Load(), c.bytes.Load(), c.bound.Load()}
}

// counters are a Model's Counters, read while the model may run.
type counters struct {
	enc, attn, dec, memEnc, bytes, bound atomic.Int64
}

// reset zeroes every counter (work the model did for itself at open).
func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.enc, &c.attn, &c.dec, &c.memEnc, &c.bytes, &c.bound} {
		v.Store(0)
	}
}

// run is one graph run's input and output values. They wrap Go slices
// without copying (ONNX Runtime reads and writes them in place) and are
// destroyed after the run; the first error is kept and reported by err.
// On a resident model some inputs are values ONNX Runtime holds (held)
// and some outputs stay on its device (device, handed over in kept).
type run struct {
	graph           string
	in, out         []ort.Value
	names, outNames []string
	made            []ort.Value
	held            []unsafe.Pointer
	device          []bool
	kept            []*iobind.Value
	err             error
}

func newRun(graph string, nin, nout int) *run {
	return &run{graph: graph, in: make([]ort.Value, nin), out: make([]ort.Value, nout),
		names: make([]string, nin), outNames: make([]string, nout)}
}

// wrap makes data input i of r, or output i when out.
func wrap[T ort.TensorData](r *run, out bool, i int, name string, data []T, shape ...int64) {
	if r.err != nil {
		return
	}
	t, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		r.err = fmt.Errorf("%s: %s: %w", r.graph, name, err)
		return
	}
	r.made = append(r.made, t)
	if out {
		r.out[i], r.outNames[i] = t, name
	} else {
		r.in[i], r.names[i] = t, name
	}
}

func (r *run) input(i int, name string, data []float32, shape ...int64) {
	wrap(r, false, i, name, data, shape...)
}

// bf16 wraps data, bfloat16 values, as input i.
func (r *run) bf16(i int, name string, data []uint16, shape ...int64) {
	if r.err != nil {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 2*len(data))
	t, err := ort.NewCustomDataTensor(ort.NewShape(shape...), b, ort.TensorElementDataTypeBFloat16)
	if err != nil {
		r.err = fmt.Errorf("%s: %s: %w", r.graph, name, err)
		return
	}
	r.made = append(r.made, t)
	r.in[i], r.names[i] = t, name
}

func (r *run) output(i int, name string, data []float32, shape ...int64) {
	wrap(r, true, i, name, data, shape...)
}

func (r *run) destroy() {
	for _, v := range r.made {
		v.Destroy()
	}
}

// exec runs r on sess and counts the run.
func (m *Model) exec(ctx context.Context, r *run, sess *ort.DynamicAdvancedSession, runs *atomic.Int64) error {
	defer r.destroy()
	if r.err != nil {
		return r.err
	}
	var err error
	if r.bound() {
		if err = m.runBound(ctx, r, sess); err == nil {
			m.count.bound.Add(1)
		}
	} else {
		err = m.run(ctx, r.graph, sess, r.in, r.out)
	}
	if err != nil {
		return err
	}
	runs.Add(1)
	return nil
}

// batches splits n objects into the runs of one graph: objects with equal
// keys share a run on a batched package (in order of first appearance),
// every object runs alone on a per-object one (format vidseg-sam2/1).
func batches[K comparable](n int, batched bool, key func(int) K) [][]int {
	if !batched {
		out := make([][]int, n)
		for i := range out {
			out[i] = []int{i}
		}
		return out
	}
	var out [][]int
	at := map[K]int{}
	for i := range n {
		k := key(i)
		j, ok := at[k]
		if !ok {
			j = len(out)
			at[k] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}

// consecutive says whether idx is a run of consecutive indices: the
// batch's per-object slices of a back-to-back buffer are then one slice.
func consecutive(idx []int) bool {
	for k, i := range idx {
		if i != idx[0]+k {
			return false
		}
	}
	return true
}

// gather returns the objects idx of buf (per values each) back to back:
// buf's own slice when they are consecutive, else a copy (counted).
func (m *Model) gather(buf []float32, per int, idx []int) []float32 {
	if consecutive(idx) {
		return buf[idx[0]*per : (idx[len(idx)-1]+1)*per]
	}
	out := make([]float32, len(idx)*per)
	for k, i := range idx {
		copy(out[k*per:], buf[i*per:(i+1)*per])
	}
	m.count.bytes.Add(int64(4 * len(out)))
	return out
}

// scatter writes a batch's results (per values each) to their objects'
// places in buf, unless the batch wrote them there in place.
func (m *Model) scatter(buf, got []float32, per int, idx []int) {
	if consecutive(idx) {
		return
	}
	for k, i := range idx {
		copy(buf[i*per:(i+1)*per], got[k*per:(k+1)*per])
	}
	m.count.bytes.Add(int64(4 * len(got)))
}

// ---- image encoder ----

type imageEncoder struct {
	sess *ort.DynamicAdvancedSession
}

func newImageEncoder(f *sessionFactory) (*imageEncoder, error) {
	d := dimsOf(f.man)
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	in := []tensorSpec{f32("image", 1, 3, d.S, d.S)}
	out := []tensorSpec{
		f32("feat_s0", 1, c0, h0, h0),
		f32("feat_s1", 1, c1, h1, h1),
		f32("vision_feat", 1, d.H, d.F, d.F),
		f32("vision_pos", 1, d.H, d.F, d.F),
	}
	sess, err := f.open("image_encoder", f.man.Graphs.ImageEncoder, in, out)
	if err != nil {
		return nil, err
	}
	return &imageEncoder{sess}, nil
}

func (g *imageEncoder) close() error { return g.sess.Destroy() }

// EncodeImage runs the image encoder on one frame: image is 3xSxS (S =
// image_size, 1024) planar RGB, already normalized with the manifest's
// mean and std. The returned Features are fresh slices, written in place
// by the encoder, owned by the caller.
func (m *Model) EncodeImage(ctx context.Context, image []float32) (*Features, error) {
	const graph = "image encoder"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	d := dimsOf(m.man)
	if err := check(graph, "image", image, 3*d.S*d.S); err != nil {
		return nil, err
	}
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	f := &Features{VisionFeat: make([]float32, d.H*d.F*d.F)}
	r := newRun(graph, 1, 4)
	r.input(0, "image", image, 1, 3, d.S, d.S)
	if m.dev != nil {
		r.toDevice(0, "feat_s0")
		r.toDevice(1, "feat_s1")
		r.toDevice(3, "vision_pos")
	} else {
		f.FeatS0 = make([]float32, c0*h0*h0)
		f.FeatS1 = make([]float32, c1*h1*h1)
		f.VisionPos = make([]float32, d.H*d.F*d.F)
		r.output(0, "feat_s0", f.FeatS0, 1, c0, h0, h0)
		r.output(1, "feat_s1", f.FeatS1, 1, c1, h1, h1)
		r.output(3, "vision_pos", f.VisionPos, 1, d.H, d.F, d.F)
	}
	r.output(2, "vision_feat", f.VisionFeat, 1, d.H, d.F, d.F)
	if err := m.exec(ctx, r, m.enc.sess, &m.count.enc); err != nil {
		return nil, err
	}
	if m.dev == nil {
		return f, nil
	}
	f.held = &heldFeatures{s0: r.kept[0], s1: r.kept[1], pos: r.kept[3], live: &m.held}
	m.held.Add(1)
	if m.dev.Host() {
		views := []struct {
			dst *[]float32
			v   *iobind.Value
			n   int64
		}{{&f.FeatS0, f.held.s0, c0 * h0 * h0}, {&f.FeatS1, f.held.s1, c1 * h1 * h1}, {&f.VisionPos, f.held.pos, d.H * d.F * d.F}}
		for _, w := range views {
			p, err := w.v.Data()
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", graph, err)
			}
			*w.dst = unsafe.Slice((*float32)(p), w.n)
		}
	}
	return f, nil
}

// ---- mask decoder ----

type maskDecoder struct {
	sess  *ort.DynamicAdvancedSession
	zeros []float32 // mask_input of a batch without mask prompts, never written
}

func newMaskDecoder(f *sessionFactory) (*maskDecoder, error) {
	d := dimsOf(f.man)
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	b := batchDim(f.man)
	in := []tensorSpec{
		f32("image_embed", b, d.H, d.F, d.F),
		f32("feat_s0", 1, c0, h0, h0),
		f32("feat_s1", 1, c1, h1, h1),
		f32("point_coords", b, -1, 2),
		f32("point_labels", b, -1),
		f32("mask_input", b, 1, d.M, d.M),
		f32("has_mask_input", b),
	}
	out := []tensorSpec{
		f32("masks", b, 4, d.M, d.M),
		f32("iou", b, 4),
		f32("obj_ptr", b, 4, d.H),
		f32("object_score", b, 1),
	}
	sess, err := f.open("mask_decoder", f.man.Graphs.MaskDecoder, in, out)
	if err != nil {
		return nil, err
	}
	return &maskDecoder{sess: sess}, nil
}

func (g *maskDecoder) close() error { return g.sess.Destroy() }

// batchDim is the object dimension of the batched graphs' inputs: dynamic
// (-1) in a batched package, 1 in a per-object one.
func batchDim(man *Manifest) int64 {
	if man.Batched() {
		return -1
	}
	return 1
}

// DecodeMasks runs the prompt encoder and mask decoder for one object; see
// [Model.DecodeMasksBatch].
func (m *Model) DecodeMasks(ctx context.Context, imageEmbed []float32, f *Features, p Prompt) (*Candidates, error) {
	c, err := m.DecodeMasksBatch(ctx, imageEmbed, f, []Prompt{p})
	if err != nil {
		return nil, err
	}
	return &c[0], nil
}

// DecodeMasksBatch runs the prompt encoder and mask decoder for objects of
// one frame. imageEmbed holds their conditioned features back to back
// (256x64x64 each: AttendMemoryBatch's output, or VisionFeat + no_mem_embed
// on a frame without memory), prompts one prompt per object; f supplies
// the frame's two high-res levels. With no points, the single padding
// point (0,0) with label -1 is sent, as SAM 2 does. Objects whose prompts
// have as many points run as one batch (a padding point is not the same
// as no point, so prompts of different lengths cannot share one). The
// returned Candidates are the caller's; their slices share the batch's
// output buffers.
func (m *Model) DecodeMasksBatch(ctx context.Context, imageEmbed []float32, f *Features, prompts []Prompt) ([]Candidates, error) {
	const graph = "mask decoder"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	if err := m.checkDecode(graph, f, prompts); err != nil {
		return nil, err
	}
	n := len(prompts)
	if n == 0 {
		return nil, nil
	}
	d := dimsOf(m.man)
	if err := check(graph, "image embedding", imageEmbed, int64(n)*d.H*d.F*d.F); err != nil {
		return nil, err
	}
	return m.decodeAll(ctx, imageEmbed, f, prompts, false)
}

// DecodeMasksShared runs the prompt encoder and mask decoder for many
// prompts on one image embedding (256x64x64), such as a grid of points
// over a frame without memory (VisionFeat + no_mem_embed, as
// SAM2ImagePredictor prompts it): each run is given the embedding once and
// broadcasts it over its batch, instead of a copy per prompt. Otherwise it
// is [Model.DecodeMasksBatch].
func (m *Model) DecodeMasksShared(ctx context.Context, imageEmbed []float32, f *Features, prompts []Prompt) ([]Candidates, error) {
	const graph = "mask decoder"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	if err := m.checkDecode(graph, f, prompts); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return nil, nil
	}
	d := dimsOf(m.man)
	if err := check(graph, "image embedding", imageEmbed, d.H*d.F*d.F); err != nil {
		return nil, err
	}
	return m.decodeAll(ctx, imageEmbed, f, prompts, true)
}

// checkDecode checks the frame's features and the prompts of a decode.
func (m *Model) checkDecode(graph string, f *Features, prompts []Prompt) error {
	if f == nil {
		return fmt.Errorf("%s: nil features", graph)
	}
	if err := usableFeatures(graph, f); err != nil {
		return err
	}
	d := dimsOf(m.man)
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	if f.held == nil {
		if err := check(graph, "FeatS0", f.FeatS0, c0*h0*h0); err != nil {
			return err
		}
		if err := check(graph, "FeatS1", f.FeatS1, c1*h1*h1); err != nil {
			return err
		}
	}
	mm := int(d.M * d.M)
	for o, p := range prompts {
		if len(p.Coords) != len(p.Labels) {
			return fmt.Errorf("%s: prompt has %d points but %d labels", graph, len(p.Coords), len(p.Labels))
		}
		for i, l := range p.Labels {
			if l != -1 && l != 0 && l != 1 && l != 2 && l != 3 {
				return fmt.Errorf("%s: point %d has label %g; want 1 (positive), 0 (negative), 2/3 (box corners) or -1 (padding)", graph, i, l)
			}
			if !finite(p.Coords[i][0]) || !finite(p.Coords[i][1]) {
				return fmt.Errorf("%s: point %d has non-finite coordinates %v", graph, i, p.Coords[i])
			}
		}
		if p.MaskInput != nil && len(p.MaskInput) != mm {
			return fmt.Errorf("%s: object %d: mask input has %d values, want %d", graph, o, len(p.MaskInput), mm)
		}
	}
	return nil
}

// decodeAll runs the checked prompts in batches of equal prompt length;
// shared says imageEmbed is one embedding for all of them.
func (m *Model) decodeAll(ctx context.Context, imageEmbed []float32, f *Features, prompts []Prompt, shared bool) ([]Candidates, error) {
	points := func(i int) int { return max(len(prompts[i].Coords), 1) }
	out := make([]Candidates, len(prompts))
	for _, idx := range batches(len(prompts), m.man.Batched(), points) {
		if err := m.decode(ctx, imageEmbed, f, prompts, idx, points(idx[0]), shared, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decode runs the objects idx, whose prompts have np points each.
func (m *Model) decode(ctx context.Context, imageEmbed []float32, f *Features, prompts []Prompt, idx []int, np int, shared bool, out []Candidates) error {
	const graph = "mask decoder"
	g := m.dec
	d := dimsOf(m.man)
	b := len(idx)
	B := int64(b)
	mm := int(d.M * d.M)
	coords, labels := make([]float32, b*np*2), make([]float32, b*np)
	has := make([]float32, b)
	var masks []float32
	for k, i := range idx {
		p := prompts[i]
		if len(p.Coords) == 0 {
			coords[2*k*np], coords[2*k*np+1], labels[k*np] = 0, 0, -1
		}
		for j, c := range p.Coords {
			coords[2*(k*np+j)], coords[2*(k*np+j)+1] = c[0], c[1]
			labels[k*np+j] = p.Labels[j]
		}
		if p.MaskInput != nil {
			if masks == nil {
				masks = make([]float32, b*mm)
			}
			copy(masks[k*mm:], p.MaskInput)
			m.count.bytes.Add(int64(4 * mm))
			has[k] = 1
		}
	}
	m.count.bytes.Add(int64(4 * (len(coords) + len(labels) + len(has))))
	if masks == nil {
		if len(g.zeros) < b*mm {
			g.zeros = make([]float32, b*mm)
		}
		masks = g.zeros[:b*mm]
	}
	per := int(d.H * d.F * d.F)
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	r := newRun(graph, 7, 4)
	if shared {
		r.input(0, "image_embed", imageEmbed, 1, d.H, d.F, d.F)
	} else {
		r.input(0, "image_embed", m.gather(imageEmbed, per, idx), B, d.H, d.F, d.F)
	}
	h0v, h1v := f.heldS0S1()
	r.hold(1, "feat_s0", h0v, f.FeatS0, 1, c0, h0, h0)
	r.hold(2, "feat_s1", h1v, f.FeatS1, 1, c1, h1, h1)
	r.input(3, "point_coords", coords, B, int64(np), 2)
	r.input(4, "point_labels", labels, B, int64(np))
	r.input(5, "mask_input", masks, B, 1, d.M, d.M)
	r.input(6, "has_mask_input", has, B)
	h := int(d.H)
	outMasks, iou, ptr, score := make([]float32, b*4*mm), make([]float32, b*4), make([]float32, b*4*h), make([]float32, b)
	r.output(0, "masks", outMasks, B, 4, d.M, d.M)
	r.output(1, "iou", iou, B, 4)
	r.output(2, "obj_ptr", ptr, B, 4, d.H)
	r.output(3, "object_score", score, B, 1)
	if err := m.exec(ctx, r, g.sess, &m.count.dec); err != nil {
		return err
	}
	for k, i := range idx {
		c := &out[i]
		for t := range 4 {
			j := 4*k + t
			c.Masks[t] = outMasks[j*mm : (j+1)*mm : (j+1)*mm]
			c.ObjPtr[t] = ptr[j*h : (j+1)*h : (j+1)*h]
			c.IoU[t] = iou[j]
		}
		c.ObjectScore = score[k]
	}
	return nil
}

// ---- memory encoder ----

type memoryEncoder struct {
	sess *ort.DynamicAdvancedSession
}

func newMemoryEncoder(f *sessionFactory) (*memoryEncoder, error) {
	d := dimsOf(f.man)
	b := batchDim(f.man)
	in := []tensorSpec{
		f32("pix_feat", 1, d.H, d.F, d.F),
		f32("mask_high_res", b, 1, d.S, d.S),
		f32("binarize", b),
		f32("object_score", b, 1),
	}
	out := []tensorSpec{
		f32("maskmem_feat", d.memShape(b)...),
		f32("maskmem_pos", d.memShape(b)...),
	}
	sess, err := f.open("memory_encoder", f.man.Graphs.MemoryEncoder, in, out)
	if err != nil {
		return nil, err
	}
	return &memoryEncoder{sess}, nil
}

func (g *memoryEncoder) close() error { return g.sess.Destroy() }

// EncodeMemory runs the memory encoder for one object; see
// [Model.EncodeMemoryBatch].
func (m *Model) EncodeMemory(ctx context.Context, pixFeat []float32, maskHighRes []float32, binarize bool, objectScore float32) (feat, pos []float32, err error) {
	return m.EncodeMemoryBatch(ctx, pixFeat, maskHighRes, []bool{binarize}, []float32{objectScore})
}

// EncodeMemoryBatch runs the memory encoder for objects of one frame, in
// one run on a batched package: pixFeat is the frame's raw VisionFeat,
// masksHighRes the objects' chosen mask logits upsampled to SxS (see
// [UpsampleBilinear]), back to back. binarize selects logits > 0 instead
// of a sigmoid (prompted frames); an object score <= 0 adds the no-object
// embedding. The returned slices hold the objects' outputs
// (Manifest.MemoryFrameLen each) back to back and are owned by the caller.
func (m *Model) EncodeMemoryBatch(ctx context.Context, pixFeat []float32, masksHighRes []float32, binarize []bool, objectScores []float32) (feat, pos []float32, err error) {
	const graph = "memory encoder"
	if err := m.usable(graph); err != nil {
		return nil, nil, err
	}
	d := dimsOf(m.man)
	n := len(objectScores)
	if len(binarize) != n {
		return nil, nil, fmt.Errorf("%s: %d binarize flags for %d objects", graph, len(binarize), n)
	}
	if n == 0 {
		return nil, nil, nil
	}
	if err := check(graph, "pixel features", pixFeat, d.H*d.F*d.F); err != nil {
		return nil, nil, err
	}
	ss := int(d.S * d.S)
	if err := check(graph, "high-res mask", masksHighRes, int64(n*ss)); err != nil {
		return nil, nil, err
	}
	flags := make([]float32, n)
	scores := make([]float32, n)
	for i, s := range objectScores {
		if !finite(s) {
			return nil, nil, fmt.Errorf("%s: object score is %g", graph, s)
		}
		if binarize[i] {
			flags[i] = 1
		}
		scores[i] = s
	}
	m.count.bytes.Add(int64(8 * n))
	per := d.memPer()
	feat, pos = make([]float32, n*per), make([]float32, n*per)
	for _, idx := range batches(n, m.man.Batched(), func(int) bool { return true }) {
		lo, hi := idx[0], idx[len(idx)-1]+1 // one batch, or one object: consecutive
		B := int64(hi - lo)
		r := newRun(graph, 4, 2)
		r.input(0, "pix_feat", pixFeat, 1, d.H, d.F, d.F)
		r.input(1, "mask_high_res", masksHighRes[lo*ss:hi*ss], B, 1, d.S, d.S)
		r.input(2, "binarize", flags[lo:hi], B)
		r.input(3, "object_score", scores[lo:hi], B, 1)
		r.output(0, "maskmem_feat", feat[lo*per:hi*per], d.memShape(B)...)
		r.output(1, "maskmem_pos", pos[lo*per:hi*per], d.memShape(B)...)
		if err := m.exec(ctx, r, m.memEnc.sess, &m.count.memEnc); err != nil {
			return nil, nil, err
		}
	}
	return feat, pos, nil
}

// ---- memory attention ----

// memoryAttention keeps what it gathered between runs. The tracker's
// memory frames share one position tensor (the memory encoder's is the
// same for every frame and object), so one [1,M,...] input serves every
// object and frame until M changes; and a memory frame that stays in an
// object's memory from one frame to the next keeps its place in mem_feat,
// so that each run copies in only the objects' new frames.
//
// It has two sessions of the graph: sessBF16 takes mem_feat in bfloat16
// (memfeat.go), for memory frames given as FeatBF16 as the tracker gives
// them; sess, float32, is opened on the first call with Feat frames.
type memoryAttention struct {
	sessBF16 *ort.DynamicAdvancedSession
	sess     *ort.DynamicAdvancedSession
	openFP32 func() (*ort.DynamicAdvancedSession, error)
	pos      []float32  // packed [1,M,C,F,F] positions
	posFrom  []*float32 // the frames' Pos slices they were packed from
	kept     map[keptKey]*keptMemory
}

// keptKey is a batch shape: objects, frames, and whether in bfloat16.
type keptKey struct {
	b, nm int
	bf16  bool
}

// keptMemory is the mem_feat and mem_slot of one batch shape (objects,
// frames) kept between runs; the pointers, fewer bytes, are gathered anew. The attention does not depend on the order
// of an object's memory frames: each frame's temporal slot goes with it
// in mem_slot, its position encoding is the same for every frame, and
// RoPE gives every frame's keys the same rotations; so a frame may stay
// where it was while the others move.
type keptMemory struct {
	feat  []float32        // [B,M,C,F,F], or
	bf16  []uint16         // that in bfloat16
	slots []int64          // [B,M]
	from  []unsafe.Pointer // each place's source: its frame's Feat or FeatBF16 data
	used  bool             // by the current call
}

// source identifies a memory frame's data.
func source(fr MemoryFrame) unsafe.Pointer {
	if fr.Feat != nil {
		return unsafe.Pointer(unsafe.SliceData(fr.Feat))
	}
	return unsafe.Pointer(unsafe.SliceData(fr.FeatBF16))
}

// widen writes a memory frame's features to dst as float32.
func widen(dst []float32, fr MemoryFrame) {
	if fr.Feat != nil {
		copy(dst, fr.Feat)
		return
	}
	for x, v := range fr.FeatBF16 {
		dst[x] = math.Float32frombits(uint32(v) << 16)
	}
}

// uniformPos says whether every memory frame of objects idx has the same
// Pos slice: the frames may then change places (keptMemory).
func uniformPos(objs []ObjectMemory, idx []int) bool {
	p := unsafe.SliceData(objs[idx[0]].Frames[0].Pos)
	for _, i := range idx {
		for _, fr := range objs[i].Frames {
			if unsafe.SliceData(fr.Pos) != p {
				return false
			}
		}
	}
	return true
}

// gather returns mem_feat (feat, or bf16 when every frame of objects idx
// is in bfloat16) and mem_slot of objects idx, and the bytes of features
// it copied. With keep, frames already in place from the last run of this
// shape stay there and only the others are copied in; else all are, in
// the order given.
func (g *memoryAttention) gather(objs []ObjectMemory, idx []int, per int, keep bool) (feat []float32, bf16 []uint16, slots []int64, copied int) {
	key := keptKey{len(idx), len(objs[idx[0]].Frames), allBF16(objs, idx)}
	b, nm := key.b, key.nm
	if km := g.kept[key]; km != nil && km.used {
		keep = false // another batch of this call has it
	}
	var km *keptMemory
	if keep {
		if g.kept == nil {
			g.kept = map[keptKey]*keptMemory{}
		}
		km = g.kept[key]
	}
	if km == nil {
		km = &keptMemory{slots: make([]int64, b*nm), from: make([]unsafe.Pointer, b*nm)}
		if key.bf16 {
			km.bf16 = make([]uint16, b*nm*per)
		} else {
			km.feat = make([]float32, b*nm*per)
		}
		if keep {
			g.kept[key] = km
		}
	}
	km.used = keep
	// put copies frame fr into place p.
	put := func(p int, fr MemoryFrame) {
		if key.bf16 {
			copy(km.bf16[p*per:(p+1)*per], fr.FeatBF16)
			copied += 2 * per
		} else {
			widen(km.feat[p*per:(p+1)*per], fr)
			copied += 4 * per
		}
		km.from[p] = source(fr)
		km.slots[p] = int64(fr.Slot)
	}
	if !keep {
		for k, i := range idx {
			for j, fr := range objs[i].Frames {
				put(k*nm+j, fr)
			}
		}
		return km.feat, km.bf16, km.slots, copied
	}
	placed := make([]bool, nm)
	at := make(map[unsafe.Pointer]int, nm)
	for k, i := range idx {
		frames := objs[i].Frames
		clear(placed)
		clear(at)
		for j, fr := range frames {
			at[source(fr)] = j
		}
		var free []int
		for p, src := range km.from[k*nm : (k+1)*nm] {
			if j, ok := at[src]; ok && src != nil && !placed[j] {
				placed[j] = true
				km.slots[k*nm+p] = int64(frames[j].Slot)
				continue
			}
			free = append(free, p)
		}
		for j, fr := range frames {
			if placed[j] {
				continue
			}
			put(k*nm+free[0], fr)
			free = free[1:]
		}
	}
	return km.feat, km.bf16, km.slots, copied
}

// allBF16 says whether every memory frame of objects idx is given in
// bfloat16 only.
func allBF16(objs []ObjectMemory, idx []int) bool {
	for _, i := range idx {
		for _, fr := range objs[i].Frames {
			if fr.Feat != nil {
				return false
			}
		}
	}
	return true
}

// release drops the kept memory of shapes the last call did not use, so
// that objects gone or grown do not keep theirs.
func (g *memoryAttention) release() {
	for key, km := range g.kept {
		if !km.used {
			delete(g.kept, key)
		}
		km.used = false
	}
}

func newMemoryAttention(f *sessionFactory) (*memoryAttention, error) {
	d := dimsOf(f.man)
	in := []tensorSpec{
		f32("curr_feat", 1, d.H, d.F, d.F),
		f32("curr_pos", 1, d.H, d.F, d.F),
		f32("mem_feat", d.memShape(-1)...),
		f32("mem_pos", d.memShape(-1)...),
		i64("mem_slot", -1),
		f32("ptr", -1, d.H),
		f32("ptr_offset", -1),
	}
	if f.man.Batched() {
		in[2] = f32("mem_feat", d.memShape(-1, -1)...)
		in[3] = f32("mem_pos", d.memShape(-1, -1)...)
		in[4] = i64("mem_slot", -1, -1)
		in[5] = f32("ptr", -1, -1, d.H)
		in[6] = f32("ptr_offset", -1, -1)
	}
	out := []tensorSpec{f32("conditioned_feat", batchDim(f.man), d.H, d.F, d.F)}
	file := f.man.Graphs.MemoryAttention
	sess, err := f.openAs("memory_attention", file, in, out, "mem_feat")
	if err != nil {
		return nil, err
	}
	fp32 := *f // its provider settled
	open := func() (*ort.DynamicAdvancedSession, error) { return fp32.open("memory_attention", file, in, out) }
	return &memoryAttention{sessBF16: sess, openFP32: open}, nil
}

func (g *memoryAttention) close() error {
	err := g.sessBF16.Destroy()
	if g.sess != nil {
		err = errors.Join(err, g.sess.Destroy())
	}
	return err
}

// session returns the session for mem_feat in bfloat16 or in float32,
// opening the float32 one on first use.
func (g *memoryAttention) session(bf16 bool) (*ort.DynamicAdvancedSession, error) {
	if bf16 {
		return g.sessBF16, nil
	}
	if g.sess == nil {
		s, err := g.openFP32()
		if err != nil {
			return nil, err
		}
		g.sess = s
	}
	return g.sess, nil
}

// AttendMemory conditions the current frame's features on one object's
// memory; see [Model.AttendMemoryBatch].
func (m *Model) AttendMemory(ctx context.Context, f *Features, frames []MemoryFrame, ptrs []Pointer) ([]float32, error) {
	return m.AttendMemoryBatch(ctx, f, []ObjectMemory{{Frames: frames, Pointers: ptrs}})
}

// AttendMemoryBatch conditions the current frame's features on each
// object's memory: frames in the order given (conditioning frames first,
// as the reference orders them), then the object pointers. It returns
// pix_feat_with_mem of every object back to back (256x64x64 each), owned
// by the caller. Objects with as many memory frames and pointers run as
// one batch on a batched package.
func (m *Model) AttendMemoryBatch(ctx context.Context, f *Features, objs []ObjectMemory) ([]float32, error) {
	const graph = "memory attention"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	d := dimsOf(m.man)
	if f == nil {
		return nil, fmt.Errorf("%s: nil features", graph)
	}
	if err := check(graph, "VisionFeat", f.VisionFeat, d.H*d.F*d.F); err != nil {
		return nil, err
	}
	if err := usableFeatures(graph, f); err != nil {
		return nil, err
	}
	if f.held == nil {
		if err := check(graph, "VisionPos", f.VisionPos, d.H*d.F*d.F); err != nil {
			return nil, err
		}
	}
	per := d.memPer()
	for _, o := range objs {
		if len(o.Frames) == 0 {
			return nil, fmt.Errorf("%s: no memory frames (on a frame without memory add no_mem_embed instead)", graph)
		}
		for i, fr := range o.Frames {
			if fr.Feat != nil || fr.FeatBF16 == nil {
				if err := check(graph, fmt.Sprintf("memory frame %d Feat", i), fr.Feat, int64(per)); err != nil {
					return nil, err
				}
			} else if len(fr.FeatBF16) != per {
				return nil, fmt.Errorf("%s: memory frame %d FeatBF16 has %d values, want %d", graph, i, len(fr.FeatBF16), per)
			}
			if err := check(graph, fmt.Sprintf("memory frame %d Pos", i), fr.Pos, int64(per)); err != nil {
				return nil, err
			}
			if fr.Slot < 0 || fr.Slot >= m.man.NumMaskmem {
				return nil, fmt.Errorf("%s: memory frame %d has slot %d; want 0..%d", graph, i, fr.Slot, m.man.NumMaskmem-1)
			}
		}
		for i, p := range o.Pointers {
			if err := check(graph, fmt.Sprintf("pointer %d", i), p.Vec, d.H); err != nil {
				return nil, err
			}
			if !finite(p.Offset) {
				return nil, fmt.Errorf("%s: pointer %d has offset %g", graph, i, p.Offset)
			}
		}
	}
	hw := int(d.H * d.F * d.F)
	out := make([]float32, len(objs)*hw)
	shape := func(i int) [2]int { return [2]int{len(objs[i].Frames), len(objs[i].Pointers)} }
	defer m.attn.release()
	for _, idx := range batches(len(objs), m.man.Batched(), shape) {
		if err := m.attend(ctx, f, objs, idx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// attend runs the objects idx, which have as many frames and pointers.
func (m *Model) attend(ctx context.Context, f *Features, objs []ObjectMemory, idx []int, out []float32) error {
	const graph = "memory attention"
	g := m.attn
	d := dimsOf(m.man)
	per, h, hw := d.memPer(), int(d.H), int(d.H*d.F*d.F)
	b, nm, np := len(idx), len(objs[idx[0]].Frames), len(objs[idx[0]].Pointers)
	feat, featBF16, slots, copied := g.gather(objs, idx, per, uniformPos(objs, idx))
	sess, err := g.session(featBF16 != nil)
	if err != nil {
		return fmt.Errorf("%s: %w", graph, err)
	}
	ptr, offsets := make([]float32, b*np*h), make([]float32, b*np)
	for k, i := range idx {
		for j, p := range objs[i].Pointers {
			copy(ptr[(k*np+j)*h:], p.Vec)
			offsets[k*np+j] = p.Offset
		}
	}
	m.count.bytes.Add(int64(copied + 4*(len(ptr)+len(offsets)) + 8*len(slots)))
	pos, posB := m.memoryPositions(objs, idx)
	B, M, P := int64(b), int64(nm), int64(np)
	res := out[idx[0]*hw : (idx[0]+b)*hw]
	if !consecutive(idx) {
		res = make([]float32, b*hw)
	}
	r := newRun(graph, 7, 1)
	r.input(0, "curr_feat", f.VisionFeat, 1, d.H, d.F, d.F)
	r.hold(1, "curr_pos", f.heldPos(), f.VisionPos, 1, d.H, d.F, d.F)
	memFeat := func(shape ...int64) {
		if featBF16 != nil {
			r.bf16(2, memFeatBF16, featBF16, shape...)
		} else {
			r.input(2, "mem_feat", feat, shape...)
		}
	}
	if m.man.Batched() {
		memFeat(d.memShape(B, M)...)
		r.input(3, "mem_pos", pos, d.memShape(posB, M)...)
		wrap(r, false, 4, "mem_slot", slots, B, M)
		r.input(5, "ptr", ptr, B, P, d.H)
		r.input(6, "ptr_offset", offsets, B, P)
	} else {
		memFeat(d.memShape(M)...)
		r.input(3, "mem_pos", pos, d.memShape(M)...)
		wrap(r, false, 4, "mem_slot", slots, M)
		r.input(5, "ptr", ptr, P, d.H)
		r.input(6, "ptr_offset", offsets, P)
	}
	r.output(0, "conditioned_feat", res, B, d.H, d.F, d.F)
	if err := m.exec(ctx, r, sess, &m.count.attn); err != nil {
		return err
	}
	m.scatter(out, res, hw, idx)
	return nil
}

// memoryPositions returns the mem_pos input of objects idx and its batch
// size: one [1,M,...] set when every object's frame j has the same Pos
// slice (reused from the last run while those slices stay the same), else
// each object's own.
func (m *Model) memoryPositions(objs []ObjectMemory, idx []int) ([]float32, int64) {
	g := m.attn
	per := m.man.MemoryFrameLen()
	first := objs[idx[0]].Frames
	shared := true
	for _, i := range idx[1:] {
		for j, fr := range objs[i].Frames {
			if unsafe.SliceData(fr.Pos) != unsafe.SliceData(first[j].Pos) {
				shared = false
			}
		}
	}
	if !shared {
		pos := make([]float32, len(idx)*len(first)*per)
		for k, i := range idx {
			for j, fr := range objs[i].Frames {
				copy(pos[(k*len(first)+j)*per:], fr.Pos)
			}
		}
		m.count.bytes.Add(int64(4 * len(pos)))
		return pos, int64(len(idx))
	}
	if !m.man.Batched() && len(first) == 1 {
		return first[0].Pos, 1 // in place
	}
	same := len(g.posFrom) == len(first)
	for j := 0; same && j < len(first); j++ {
		same = g.posFrom[j] == unsafe.SliceData(first[j].Pos)
	}
	if !same {
		g.pos = make([]float32, len(first)*per)
		g.posFrom = g.posFrom[:0]
		for j, fr := range first {
			copy(g.pos[j*per:], fr.Pos)
			g.posFrom = append(g.posFrom, unsafe.SliceData(fr.Pos))
		}
		m.count.bytes.Add(int64(4 * len(g.pos)))
	}
	return g.pos, 1
}

// StabilityScore is the mask decoder's stability score of one mask's logits
// (MaskDecoder._get_stability_scores): the area above +delta over the area
// above -delta, 1 for an empty mask. The tracker's dynamic multimask choice
// and segment-everything's filter both use it.
func StabilityScore(logits []float32, delta float32) float32 {
	var in, un int
	for _, v := range logits {
		if v > delta {
			in++
		}
		if v > -delta {
			un++
		}
	}
	if un == 0 {
		return 1
	}
	return float32(in) / float32(un)
}
