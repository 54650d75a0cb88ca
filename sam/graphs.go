package sam

import (
	"context"
	"errors"
	"fmt"
	"math"
	"weak"

	ort "github.com/yalue/onnxruntime_go"
)

// Features are the image encoder's outputs for one frame, in NCHW order
// without the batch dimension. The slices belong to the caller.
type Features struct {
	FeatS0     []float32 // 32x256x256 (hidden_dim/8 x 4F x 4F)
	FeatS1     []float32 // 64x128x128 (hidden_dim/4 x 2F x 2F)
	VisionFeat []float32 // 256x64x64
	VisionPos  []float32 // 256x64x64
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
// (64x64x64 each) and its temporal slot (0 = conditioning frame, 1..6
// recent frames).
type MemoryFrame struct {
	Feat, Pos []float32
	Slot      int
}

// Pointer is an object pointer (256) and its frame offset as SAM 2 computes
// it (signed when use_signed_tpos_enc_to_obj_ptrs).
type Pointer struct {
	Vec    []float32
	Offset float32
}

// dims derives the tensor sizes from the manifest.
type dims struct {
	S, F, M, H, C int64 // image, feature, mask size; hidden dim; mem dim
}

func dimsOf(man *Manifest) dims {
	return dims{int64(man.ImageSize), int64(man.FeatureSize), int64(man.MaskSize), int64(man.HiddenDim), int64(man.MemDim)}
}

func (d dims) s0() (c, h int64) { return d.H / 8, 4 * d.F }
func (d dims) s1() (c, h int64) { return d.H / 4, 2 * d.F }

// fixed holds a graph's fixed-shape float tensors, allocated once; a nil
// entry is a dynamic input made per call.
type fixed []*ort.Tensor[float32]

func allocate(specs []tensorSpec) (fixed, error) {
	ts := make(fixed, len(specs))
	for i, s := range specs {
		if s.dtype != ort.TensorElementDataTypeFloat || isDynamic(s.shape) {
			continue
		}
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(s.shape...))
		if err != nil {
			ts.destroy()
			return nil, fmt.Errorf("allocate %s: %w", s.name, err)
		}
		ts[i] = t
	}
	return ts, nil
}

func (ts fixed) destroy() error {
	var errs []error
	for _, t := range ts {
		if t != nil {
			errs = append(errs, t.Destroy())
		}
	}
	return errors.Join(errs...)
}

func (ts fixed) values() []ort.Value {
	vs := make([]ort.Value, len(ts))
	for i, t := range ts {
		if t != nil {
			vs[i] = t
		}
	}
	return vs
}

func isDynamic(shape []int64) bool {
	for _, d := range shape {
		if d < 0 {
			return true
		}
	}
	return false
}

// put copies src into dst after checking its length; what names the
// argument in the error.
func put(graph, what string, dst []float32, src []float32) error {
	if len(src) != len(dst) {
		return fmt.Errorf("%s: %s has %d values, want %d", graph, what, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

// frameIn remembers which frame's features a graph's input tensors hold, so
// that the objects of one frame copy them once (tens of MB a frame). The
// reference is weak: a closed session's last frame is not kept alive by the
// model, and a collected frame never matches (Value is then nil).
type frameIn struct{ feats weak.Pointer[Features] }

// load runs copyIn unless the inputs already hold f's features.
func (c *frameIn) load(f *Features, copyIn func() error) error {
	if c.feats.Value() == f {
		return nil
	}
	c.feats = weak.Pointer[Features]{}
	if err := copyIn(); err != nil {
		return err
	}
	c.feats = weak.Make(f)
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// ---- image encoder ----

// graph is one ONNX Runtime session with its fixed-shape tensors, allocated
// once and reused for every call.
type graph struct {
	sess    *ort.DynamicAdvancedSession
	in, out fixed
}

// openGraph opens the session for one graph of the package and allocates
// its tensors (dynamic ones are left nil for the caller).
func openGraph(f *sessionFactory, key, file string, in, out []tensorSpec) (graph, error) {
	var g graph
	var err error
	if g.sess, err = f.open(key, file, in, out); err != nil {
		return g, err
	}
	if g.in, err = allocate(in); err != nil {
		g.close()
		return g, err
	}
	if g.out, err = allocate(out); err != nil {
		g.close()
		return g, err
	}
	return g, nil
}

func (g *graph) close() error {
	return errors.Join(g.sess.Destroy(), g.in.destroy(), g.out.destroy())
}

type imageEncoder struct {
	graph
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
	g, err := openGraph(f, "image_encoder", f.man.Graphs.ImageEncoder, in, out)
	if err != nil {
		return nil, err
	}
	return &imageEncoder{g}, nil
}

// EncodeImage runs the image encoder on one frame: image is 3xSxS (S =
// image_size, 1024) planar RGB, already normalized with the manifest's
// mean and std. The returned Features are fresh slices owned by the caller,
// who must not modify them: the graphs keep the last frame's features
// loaded (frameIn).
func (m *Model) EncodeImage(ctx context.Context, image []float32) (*Features, error) {
	const graph = "image encoder"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	g := m.enc
	if err := put(graph, "image", g.in[0].GetData(), image); err != nil {
		return nil, err
	}
	if err := m.run(ctx, graph, g.sess, g.in.values(), g.out.values()); err != nil {
		return nil, err
	}
	clone := func(t *ort.Tensor[float32]) []float32 { return append([]float32(nil), t.GetData()...) }
	return &Features{
		FeatS0:     clone(g.out[0]),
		FeatS1:     clone(g.out[1]),
		VisionFeat: clone(g.out[2]),
		VisionPos:  clone(g.out[3]),
	}, nil
}

// ---- mask decoder ----

type maskDecoder struct {
	graph
	frameIn           // the frame whose high-res features the inputs hold
	coords  []float32 // backing of point_coords, grown to the largest N seen
	labels  []float32
}

// Input positions in the mask decoder's input list.
const (
	decImageEmbed = iota
	decFeatS0
	decFeatS1
	decPointCoords
	decPointLabels
	decMaskInput
	decHasMaskInput
)

func newMaskDecoder(f *sessionFactory) (*maskDecoder, error) {
	d := dimsOf(f.man)
	c0, h0 := d.s0()
	c1, h1 := d.s1()
	in := []tensorSpec{
		f32("image_embed", 1, d.H, d.F, d.F),
		f32("feat_s0", 1, c0, h0, h0),
		f32("feat_s1", 1, c1, h1, h1),
		f32("point_coords", 1, -1, 2),
		f32("point_labels", 1, -1),
		f32("mask_input", 1, 1, d.M, d.M),
		f32("has_mask_input", 1),
	}
	out := []tensorSpec{
		f32("masks", 1, 4, d.M, d.M),
		f32("iou", 1, 4),
		f32("obj_ptr", 1, 4, d.H),
		f32("object_score", 1, 1),
	}
	g, err := openGraph(f, "mask_decoder", f.man.Graphs.MaskDecoder, in, out)
	if err != nil {
		return nil, err
	}
	return &maskDecoder{graph: g}, nil
}

// DecodeMasks runs the prompt encoder and mask decoder. imageEmbed is the
// conditioned features (256x64x64: AttendMemory's output, or VisionFeat +
// no_mem_embed on a frame without memory); f supplies the two high-res
// levels. With no points, the single padding point (0,0) with label -1 is
// sent, as SAM 2 does. The returned Candidates are owned by the caller.
func (m *Model) DecodeMasks(ctx context.Context, imageEmbed []float32, f *Features, p Prompt) (*Candidates, error) {
	const graph = "mask decoder"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	g := m.dec
	if f == nil {
		return nil, fmt.Errorf("%s: nil features", graph)
	}
	if len(p.Coords) != len(p.Labels) {
		return nil, fmt.Errorf("%s: prompt has %d points but %d labels", graph, len(p.Coords), len(p.Labels))
	}
	for i, l := range p.Labels {
		if l != -1 && l != 0 && l != 1 && l != 2 && l != 3 {
			return nil, fmt.Errorf("%s: point %d has label %g; want 1 (positive), 0 (negative), 2/3 (box corners) or -1 (padding)", graph, i, l)
		}
		if !finite(p.Coords[i][0]) || !finite(p.Coords[i][1]) {
			return nil, fmt.Errorf("%s: point %d has non-finite coordinates %v", graph, i, p.Coords[i])
		}
	}
	if err := put(graph, "image embedding", g.in[decImageEmbed].GetData(), imageEmbed); err != nil {
		return nil, err
	}
	if err := g.load(f, func() error {
		if err := put(graph, "FeatS0", g.in[decFeatS0].GetData(), f.FeatS0); err != nil {
			return err
		}
		return put(graph, "FeatS1", g.in[decFeatS1].GetData(), f.FeatS1)
	}); err != nil {
		return nil, err
	}
	has := g.in[decHasMaskInput].GetData()
	if p.MaskInput != nil {
		if err := put(graph, "mask input", g.in[decMaskInput].GetData(), p.MaskInput); err != nil {
			return nil, err
		}
		has[0] = 1
	} else {
		has[0] = 0
	}

	n := len(p.Coords)
	if n == 0 {
		n = 1
	}
	if cap(g.coords) < 2*n {
		g.coords = make([]float32, 2*n)
		g.labels = make([]float32, n)
	}
	coords, labels := g.coords[:2*n], g.labels[:n]
	if len(p.Coords) == 0 {
		coords[0], coords[1], labels[0] = 0, 0, -1
	}
	for i, c := range p.Coords {
		coords[2*i], coords[2*i+1] = c[0], c[1]
		labels[i] = p.Labels[i]
	}
	ct, err := ort.NewTensor(ort.NewShape(1, int64(n), 2), coords)
	if err != nil {
		return nil, fmt.Errorf("%s: point_coords: %w", graph, err)
	}
	defer ct.Destroy()
	lt, err := ort.NewTensor(ort.NewShape(1, int64(n)), labels)
	if err != nil {
		return nil, fmt.Errorf("%s: point_labels: %w", graph, err)
	}
	defer lt.Destroy()
	in := g.in.values()
	in[decPointCoords], in[decPointLabels] = ct, lt
	if err := m.run(ctx, graph, g.sess, in, g.out.values()); err != nil {
		return nil, err
	}

	var c Candidates
	masks, iou, ptr := g.out[0].GetData(), g.out[1].GetData(), g.out[2].GetData()
	mm, h := len(masks)/4, len(ptr)/4
	for i := range 4 {
		c.Masks[i] = append([]float32(nil), masks[i*mm:(i+1)*mm]...)
		c.ObjPtr[i] = append([]float32(nil), ptr[i*h:(i+1)*h]...)
		c.IoU[i] = iou[i]
	}
	c.ObjectScore = g.out[3].GetData()[0]
	return &c, nil
}

// ---- memory encoder ----

type memoryEncoder struct {
	graph
}

func newMemoryEncoder(f *sessionFactory) (*memoryEncoder, error) {
	d := dimsOf(f.man)
	in := []tensorSpec{
		f32("pix_feat", 1, d.H, d.F, d.F),
		f32("mask_high_res", 1, 1, d.S, d.S),
		f32("binarize", 1),
		f32("object_score", 1, 1),
	}
	out := []tensorSpec{
		f32("maskmem_feat", 1, d.C, d.F, d.F),
		f32("maskmem_pos", 1, d.C, d.F, d.F),
	}
	g, err := openGraph(f, "memory_encoder", f.man.Graphs.MemoryEncoder, in, out)
	if err != nil {
		return nil, err
	}
	return &memoryEncoder{g}, nil
}

// EncodeMemory runs the memory encoder: pixFeat is the frame's raw
// VisionFeat, maskHighRes the chosen mask's logits upsampled to SxS (see
// [UpsampleBilinear]). binarize selects logits > 0 instead of a sigmoid
// (prompted frames); objectScore <= 0 adds the no-object embedding. The
// returned slices (64x64x64 each) are owned by the caller.
func (m *Model) EncodeMemory(ctx context.Context, pixFeat []float32, maskHighRes []float32, binarize bool, objectScore float32) (feat, pos []float32, err error) {
	const graph = "memory encoder"
	if err := m.usable(graph); err != nil {
		return nil, nil, err
	}
	g := m.memEnc
	if err := put(graph, "pixel features", g.in[0].GetData(), pixFeat); err != nil {
		return nil, nil, err
	}
	if err := put(graph, "high-res mask", g.in[1].GetData(), maskHighRes); err != nil {
		return nil, nil, err
	}
	if !finite(objectScore) {
		return nil, nil, fmt.Errorf("%s: object score is %g", graph, objectScore)
	}
	var b float32
	if binarize {
		b = 1
	}
	g.in[2].GetData()[0] = b
	g.in[3].GetData()[0] = objectScore
	if err := m.run(ctx, graph, g.sess, g.in.values(), g.out.values()); err != nil {
		return nil, nil, err
	}
	return append([]float32(nil), g.out[0].GetData()...), append([]float32(nil), g.out[1].GetData()...), nil
}

// ---- memory attention ----

// memoryAttention reuses the fixed current-frame tensors. The memory and
// pointer inputs change length from frame to frame, so their values are
// copied into buffers grown to the largest M and P seen (never shrunk) and
// wrapped per call in tensors of the exact shape; wrapping copies nothing.
type memoryAttention struct {
	graph
	frameIn // the frame whose features the inputs hold

	memFeat, memPos []float32
	memSlot         []int64
	ptr, ptrOffset  []float32
}

const (
	attnCurrFeat = iota
	attnCurrPos
	attnMemFeat
	attnMemPos
	attnMemSlot
	attnPtr
	attnPtrOffset
)

func newMemoryAttention(f *sessionFactory) (*memoryAttention, error) {
	d := dimsOf(f.man)
	in := []tensorSpec{
		f32("curr_feat", 1, d.H, d.F, d.F),
		f32("curr_pos", 1, d.H, d.F, d.F),
		f32("mem_feat", -1, d.C, d.F, d.F),
		f32("mem_pos", -1, d.C, d.F, d.F),
		i64("mem_slot", -1),
		f32("ptr", -1, d.H),
		f32("ptr_offset", -1),
	}
	out := []tensorSpec{f32("conditioned_feat", 1, d.H, d.F, d.F)}
	g, err := openGraph(f, "memory_attention", f.man.Graphs.MemoryAttention, in, out)
	if err != nil {
		return nil, err
	}
	return &memoryAttention{graph: g}, nil
}

func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// AttendMemory conditions the current frame's features on the memory bank:
// frames in the order given (conditioning frames first, as the reference
// orders them), then the object pointers; ptrs may be empty. It returns
// pix_feat_with_mem (256x64x64), owned by the caller.
func (m *Model) AttendMemory(ctx context.Context, f *Features, frames []MemoryFrame, ptrs []Pointer) ([]float32, error) {
	const graph = "memory attention"
	if err := m.usable(graph); err != nil {
		return nil, err
	}
	g := m.attn
	d := dimsOf(m.man)
	if f == nil {
		return nil, fmt.Errorf("%s: nil features", graph)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no memory frames (on a frame without memory add no_mem_embed instead)", graph)
	}
	if err := g.load(f, func() error {
		if err := put(graph, "VisionFeat", g.in[attnCurrFeat].GetData(), f.VisionFeat); err != nil {
			return err
		}
		return put(graph, "VisionPos", g.in[attnCurrPos].GetData(), f.VisionPos)
	}); err != nil {
		return nil, err
	}
	per := int(d.C * d.F * d.F)
	nm := len(frames)
	g.memFeat = grow(g.memFeat, nm*per)
	g.memPos = grow(g.memPos, nm*per)
	g.memSlot = grow(g.memSlot, nm)
	for i, fr := range frames {
		if err := put(graph, fmt.Sprintf("memory frame %d Feat", i), g.memFeat[i*per:(i+1)*per], fr.Feat); err != nil {
			return nil, err
		}
		if err := put(graph, fmt.Sprintf("memory frame %d Pos", i), g.memPos[i*per:(i+1)*per], fr.Pos); err != nil {
			return nil, err
		}
		if fr.Slot < 0 || fr.Slot >= m.man.NumMaskmem {
			return nil, fmt.Errorf("%s: memory frame %d has slot %d; want 0..%d", graph, i, fr.Slot, m.man.NumMaskmem-1)
		}
		g.memSlot[i] = int64(fr.Slot)
	}
	h := int(d.H)
	np := len(ptrs)
	g.ptr = grow(g.ptr, np*h)
	g.ptrOffset = grow(g.ptrOffset, np)
	for i, p := range ptrs {
		if err := put(graph, fmt.Sprintf("pointer %d", i), g.ptr[i*h:(i+1)*h], p.Vec); err != nil {
			return nil, err
		}
		if !finite(p.Offset) {
			return nil, fmt.Errorf("%s: pointer %d has offset %g", graph, i, p.Offset)
		}
		g.ptrOffset[i] = p.Offset
	}

	var views []interface{ Destroy() error }
	defer func() {
		for _, v := range views {
			v.Destroy()
		}
	}()
	in := g.in.values()
	memShape := ort.NewShape(int64(nm), d.C, d.F, d.F)
	for _, v := range []struct {
		at   int
		data []float32
		s    ort.Shape
	}{
		{attnMemFeat, g.memFeat, memShape},
		{attnMemPos, g.memPos, memShape},
		{attnPtr, g.ptr, ort.NewShape(int64(np), d.H)},
		{attnPtrOffset, g.ptrOffset, ort.NewShape(int64(np))},
	} {
		t, err := ort.NewTensor(v.s, v.data)
		if err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", graph, v.at, err)
		}
		views = append(views, t)
		in[v.at] = t
	}
	st, err := ort.NewTensor(ort.NewShape(int64(nm)), g.memSlot)
	if err != nil {
		return nil, fmt.Errorf("%s: mem_slot: %w", graph, err)
	}
	views = append(views, st)
	in[attnMemSlot] = st
	if err := m.run(ctx, graph, g.sess, in, g.out.values()); err != nil {
		return nil, err
	}
	return append([]float32(nil), g.out[0].GetData()...), nil
}
