package sam

import (
	"context"
	"math"
	"slices"
	"testing"
)

// closeTo fails when got and want differ by more than 1e-4 of want's
// largest magnitude (at least 1): a batch runs other kernel shapes than
// one object, so the sums may round differently.
func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale, worst float64 = 1, 0
	for i := range want {
		scale = max(scale, math.Abs(float64(want[i])))
		worst = max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	if worst > 1e-4*scale {
		t.Errorf("%s: batch differs from one object by %.3g (largest value %.3g)", what, worst, scale)
	}
}

// The batched graphs give each object what it gets alone, in one run per
// graph for objects of the same shape, and in order when objects of
// different shapes interleave.
func TestBatchMatchesPerObject(t *testing.T) {
	m := testModel(t)
	if !m.Manifest().Batched() {
		t.Fatalf("the fixture is format %s; want %s", m.Manifest().Format, ManifestFormat)
	}
	ctx := context.Background()
	f, err := m.EncodeImage(ctx, HashUniform(3*1024*1024, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	const n, ss, per, hw = 3, 1024 * 1024, 64 * 64 * 64, 256 * 64 * 64

	masks := make([]float32, n*ss)
	for i := range n {
		copy(masks[i*ss:], HashUniform(ss, uint32(10+i), 10))
	}
	binarize, scores := []bool{false, true, false}, []float32{1, 2, -1}
	before := m.Counters()
	feat, pos, err := m.EncodeMemoryBatch(ctx, f.VisionFeat, masks, binarize, scores)
	if err != nil {
		t.Fatal(err)
	}
	if runs := m.Counters().Sub(before).MemoryEncoder; runs != 1 {
		t.Errorf("memory encoder: %d runs for %d objects, want 1", runs, n)
	}
	for i := range n {
		fi, pi, err := m.EncodeMemory(ctx, f.VisionFeat, masks[i*ss:(i+1)*ss], binarize[i], scores[i])
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "maskmem_feat", feat[i*per:(i+1)*per], fi)
		closeTo(t, "maskmem_pos", pos[i*per:(i+1)*per], pi)
	}

	// Objects 0 and 2 have two frames and two pointers, object 1 one frame
	// and none: two runs, object 2's result going back between.
	frame := func(i, slot int) MemoryFrame {
		return MemoryFrame{Feat: feat[i*per : (i+1)*per], Pos: pos[:per], Slot: slot}
	}
	ptr := func(seed uint32, off float32) Pointer { return Pointer{Vec: HashUniform(256, seed, 1), Offset: off} }
	ownPos := append([]float32(nil), pos[:per]...) // same values, another slice
	objs := []ObjectMemory{
		{Frames: []MemoryFrame{frame(0, 0), frame(1, 1)}, Pointers: []Pointer{ptr(20, 3), ptr(21, 1)}},
		{Frames: []MemoryFrame{frame(2, 0)}},
		{Frames: []MemoryFrame{frame(1, 0), {Feat: feat[2*per : 3*per], Pos: ownPos, Slot: 2}}, Pointers: []Pointer{ptr(22, 5), ptr(23, 2)}},
	}
	before = m.Counters()
	embeds, err := m.AttendMemoryBatch(ctx, f, objs)
	if err != nil {
		t.Fatal(err)
	}
	if runs := m.Counters().Sub(before).MemoryAttention; runs != 2 {
		t.Errorf("memory attention: %d runs for two memory shapes, want 2", runs)
	}
	for i, o := range objs {
		want, err := m.AttendMemory(ctx, f, o.Frames, o.Pointers)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "conditioned_feat", embeds[i*hw:(i+1)*hw], want)
	}

	// Objects 0 and 1 have one point (a padding one, and a click with a
	// mask prompt), object 2 a box: two runs.
	prompts := []Prompt{
		{},
		{Coords: [][2]float32{{500, 300}}, Labels: []float32{1}, MaskInput: HashUniform(256*256, 30, 10)},
		{Coords: [][2]float32{{100, 150}, {700, 800}}, Labels: []float32{2, 3}},
	}
	before = m.Counters()
	cands, err := m.DecodeMasksBatch(ctx, embeds, f, prompts)
	if err != nil {
		t.Fatal(err)
	}
	if runs := m.Counters().Sub(before).MaskDecoder; runs != 2 {
		t.Errorf("mask decoder: %d runs for two prompt lengths, want 2", runs)
	}
	for i, p := range prompts {
		want, err := m.DecodeMasks(ctx, embeds[i*hw:(i+1)*hw], f, p)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 4 {
			closeTo(t, "masks", cands[i].Masks[k], want.Masks[k])
			closeTo(t, "obj_ptr", cands[i].ObjPtr[k], want.ObjPtr[k])
		}
		closeTo(t, "iou", cands[i].IoU[:], want.IoU[:])
		closeTo(t, "object_score", []float32{cands[i].ObjectScore}, []float32{want.ObjectScore})
	}
}

func TestBatches(t *testing.T) {
	keys := []int{5, 7, 5, 5, 7}
	key := func(i int) int { return keys[i] }
	got := batches(len(keys), true, key)
	if len(got) != 2 || len(got[0]) != 3 || got[0][2] != 3 || len(got[1]) != 2 || got[1][1] != 4 {
		t.Errorf("batched: %v, want [[0 2 3] [1 4]]", got)
	}
	if got := batches(len(keys), false, key); len(got) != 5 || got[4][0] != 4 {
		t.Errorf("per object: %v, want one run per object", got)
	}
	if !consecutive([]int{2, 3, 4}) || consecutive([]int{0, 2}) {
		t.Error("consecutive")
	}
}

// Prompts on one shared embedding get what each gets with its own copy.
func TestDecodeSharedMatchesBatch(t *testing.T) {
	m := testModel(t)
	ctx := context.Background()
	f, err := m.EncodeImage(ctx, HashUniform(3*1024*1024, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	const n, hw = 3, 256 * 64 * 64
	prompts := make([]Prompt, n)
	embeds := make([]float32, n*hw)
	for i := range prompts {
		prompts[i] = Prompt{Coords: [][2]float32{{float32(100 + 300*i), float32(700 - 200*i)}}, Labels: []float32{1}}
		copy(embeds[i*hw:], f.VisionFeat)
	}
	want, err := m.DecodeMasksBatch(ctx, embeds, f, prompts)
	if err != nil {
		t.Fatal(err)
	}
	before := m.Counters()
	got, err := m.DecodeMasksShared(ctx, f.VisionFeat, f, prompts)
	if err != nil {
		t.Fatal(err)
	}
	if runs := m.Counters().Sub(before).MaskDecoder; runs != 1 {
		t.Errorf("mask decoder: %d runs for %d prompts, want 1", runs, n)
	}
	for i := range n {
		for k := range 4 {
			closeTo(t, "masks", got[i].Masks[k], want[i].Masks[k])
		}
		closeTo(t, "iou", got[i].IoU[:], want[i].IoU[:])
	}
	if _, err := m.DecodeMasksShared(ctx, embeds, f, prompts); err == nil {
		t.Error("DecodeMasksShared took 3 embeddings; want an error")
	}
}

// A memory frame that stays in an object's memory is not copied again:
// the next run copies in only each object's new frame (its place in the
// batch may differ from the order given) and gives what a run in the
// given order gives.
func TestAttendMemoryKeepsFrames(t *testing.T) {
	m := testModel(t)
	ctx := context.Background()
	const per, hw = 64 * 64 * 64, 256 * 64 * 64
	f := &Features{VisionFeat: HashUniform(hw, 1, 1), VisionPos: HashUniform(hw, 2, 1)}
	pos := HashUniform(per, 3, 1)
	frames := map[uint32][]uint16{}
	frame := func(seed uint32, slot int) MemoryFrame {
		if frames[seed] == nil {
			for _, v := range HashUniform(per, seed, 1) {
				frames[seed] = append(frames[seed], uint16(math.Float32bits(v)>>16))
			}
		}
		return MemoryFrame{FeatBF16: frames[seed], Pos: pos, Slot: slot}
	}
	ptrs := []Pointer{{Vec: HashUniform(256, 4, 1), Offset: 1}}
	first := []ObjectMemory{
		{Frames: []MemoryFrame{frame(10, 0), frame(11, 1), frame(12, 2)}, Pointers: ptrs},
		{Frames: []MemoryFrame{frame(20, 0), frame(21, 1), frame(22, 2)}, Pointers: ptrs},
	}
	if _, err := m.AttendMemoryBatch(ctx, f, first); err != nil {
		t.Fatal(err)
	}
	// One frame later: a new recent frame in front, the oldest gone, one
	// pointer more.
	ptrs = append(ptrs, Pointer{Vec: HashUniform(256, 5, 1), Offset: 2})
	next := []ObjectMemory{
		{Frames: []MemoryFrame{frame(10, 0), frame(13, 1), frame(11, 2)}, Pointers: ptrs},
		{Frames: []MemoryFrame{frame(20, 0), frame(23, 1), frame(21, 2)}, Pointers: ptrs},
	}
	before := m.Counters()
	got, err := m.AttendMemoryBatch(ctx, f, next)
	if err != nil {
		t.Fatal(err)
	}
	copied := m.Counters().Sub(before).CopiedBytes
	// bfloat16 frames go in as they are: 2 bytes a value.
	if frame := int64(2 * per); copied < 2*frame || copied >= 3*frame {
		t.Errorf("%d bytes copied for two objects with one new memory frame each; want two frames (%d bytes) and their pointers and slots", copied, 2*frame)
	}
	for i, o := range next {
		want, err := m.AttendMemory(ctx, f, o.Frames, o.Pointers)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "conditioned_feat", got[i*hw:(i+1)*hw], want)
		// The same frames widened to float32 by Go, in the float32 graph.
		wide := make([]MemoryFrame, len(o.Frames))
		for j, fr := range o.Frames {
			wide[j] = MemoryFrame{Feat: make([]float32, per), Pos: fr.Pos, Slot: fr.Slot}
			widen(wide[j].Feat, fr)
		}
		fp32, err := m.AttendMemory(ctx, f, wide, o.Pointers)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(want, fp32) {
			closeTo(t, "conditioned_feat (float32 input)", want, fp32)
			t.Errorf("object %d: the bfloat16 input gave other values than the same frames widened to float32", i)
		}
	}
}
