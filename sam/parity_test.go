package sam

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/internal/npy"
	"github.com/vidseg/vidseg/internal/testutil"
)

// parityTol is the largest accepted max|go - ref| / max|ref| per output.
const parityTol = 1e-4

// reference is one case of testdata/model/reference (docs/exporter.md).
type reference struct {
	name string
	z    map[string]*npy.Array
}

func loadReference(t *testing.T, name string) *reference {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "testdata", "model", "reference")
	if os.Getenv("SAM_TEST_MODEL") != "" {
		t.Skip("reference tensors belong to the committed fixture, not SAM_TEST_MODEL")
	}
	p := filepath.Join(dir, name+".npz")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no reference %s (tools/export/make_references.py writes it): %v", p, err)
	}
	z, err := npy.ReadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	return &reference{name, z}
}

func (r *reference) arr(t *testing.T, key string) *npy.Array {
	t.Helper()
	a, ok := r.z[key]
	if !ok {
		t.Fatalf("%s: no %s", r.name, key)
	}
	return a
}

// input returns graph input name: stored (in_<name>) or generated
// (gen_<name>_seed/_scale, shape_<name>) with HashUniform.
func (r *reference) input(t *testing.T, name string) []float32 {
	t.Helper()
	if a, ok := r.z["in_"+name]; ok {
		return a.Float32()
	}
	seed := r.arr(t, "gen_"+name+"_seed")
	scale := r.arr(t, "gen_"+name+"_scale")
	shape := r.arr(t, "shape_"+name)
	n := 1
	for _, d := range shape.I64 {
		n *= int(d)
	}
	return HashUniform(n, uint32(seed.I64[0]), scale.F32[0])
}

// check compares a Go output with out_<name>, strided when the reference
// stores it so, and logs the relative error.
func (r *reference) check(t *testing.T, name string, got []float32) {
	t.Helper()
	r.checkWithin(t, name, got, parityTol)
}

func (r *reference) checkWithin(t *testing.T, name string, got []float32, tol float64) {
	t.Helper()
	ref := r.arr(t, "out_"+name).Float32()
	shape := r.arr(t, "shape_out_"+name)
	full := 1
	for _, d := range shape.I64 {
		full *= int(d)
	}
	if len(got) != full {
		t.Errorf("%s %s: Go output has %d values, reference shape %v has %d", r.name, name, len(got), shape.I64, full)
		return
	}
	stride := 1
	var refMax float64
	if s, ok := r.z["stride_"+name]; ok {
		stride = int(s.I64[0])
		refMax = float64(r.arr(t, "absmax_"+name).F32[0])
	} else {
		for _, v := range ref {
			refMax = math.Max(refMax, math.Abs(float64(v)))
		}
	}
	if want := (full + stride - 1) / stride; len(ref) != want {
		t.Fatalf("%s %s: %d reference values, want %d for stride %d", r.name, name, len(ref), want, stride)
	}
	var maxDiff float64
	for i, v := range ref {
		g := got[i*stride]
		if math.IsNaN(float64(g)) {
			t.Errorf("%s %s: NaN at %d", r.name, name, i*stride)
			return
		}
		maxDiff = math.Max(maxDiff, math.Abs(float64(g)-float64(v)))
	}
	rel := maxDiff / math.Max(refMax, 1e-30)
	t.Logf("%-28s %-16s max|go-ref| %.3g  max|ref| %.4g  relative %.3g", r.name, name, maxDiff, refMax, rel)
	if rel > tol {
		t.Errorf("%s %s: relative error %.3g > %g", r.name, name, rel, tol)
	}
}

// normalizeImage is video.Normalize's arithmetic, done here to keep this
// package free of the FFmpeg dependency: ((x/255) - mean) / std per channel,
// each step a float32 operation, HWC uint8 -> CHW float32.
func normalizeImage(rgb []byte, w, h int, mean, std [3]float32) []float32 {
	out := make([]float32, 3*w*h)
	for i := range w * h {
		for c := range 3 {
			v := float32(rgb[3*i+c]) / 255
			v = float32(v - mean[c])
			out[c*w*h+i] = float32(v / std[c])
		}
	}
	return out
}

func TestParityImageEncoder(t *testing.T) { imageEncoderParity(t, testModel(t), parityTol) }

// imageEncoderParity runs m's image encoder on the reference image and
// compares its outputs within tol (relative to each one's largest value).
func imageEncoderParity(t *testing.T, m *Model, tol float64) {
	r := loadReference(t, "image_encoder")
	img := r.arr(t, "in_image_u8")
	if len(img.Shape) != 3 || img.Shape[2] != 3 {
		t.Fatalf("in_image_u8 shape %v", img.Shape)
	}
	image := normalizeImage(img.U8, img.Shape[1], img.Shape[0], m.Manifest().Mean(), m.Manifest().Std())
	f, err := m.EncodeImage(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	r.checkWithin(t, "feat_s0", f.FeatS0, tol)
	r.checkWithin(t, "feat_s1", f.FeatS1, tol)
	r.checkWithin(t, "vision_feat", f.VisionFeat, tol)
	r.checkWithin(t, "vision_pos", f.VisionPos, tol)
}

func TestParityMaskDecoder(t *testing.T) {
	for _, name := range []string{"mask_decoder", "mask_decoder_box"} {
		t.Run(name, func(t *testing.T) {
			r := loadReference(t, name)
			m := testModel(t)
			f := &Features{FeatS0: r.input(t, "feat_s0"), FeatS1: r.input(t, "feat_s1")}
			coords, labels := r.input(t, "point_coords"), r.input(t, "point_labels")
			var p Prompt
			for i := range labels {
				p.Coords = append(p.Coords, [2]float32{coords[2*i], coords[2*i+1]})
				p.Labels = append(p.Labels, labels[i])
			}
			if r.input(t, "has_mask_input")[0] != 0 {
				p.MaskInput = r.input(t, "mask_input")
			}
			c, err := m.DecodeMasks(context.Background(), r.input(t, "image_embed"), f, p)
			if err != nil {
				t.Fatal(err)
			}
			var masks, ptrs []float32
			for i := range 4 {
				masks = append(masks, c.Masks[i]...)
				ptrs = append(ptrs, c.ObjPtr[i]...)
			}
			r.check(t, "masks", masks)
			r.check(t, "iou", c.IoU[:])
			r.check(t, "obj_ptr", ptrs)
			r.check(t, "object_score", []float32{c.ObjectScore})
		})
	}
}

func TestParityMemoryEncoder(t *testing.T) {
	for _, name := range []string{"memory_encoder", "memory_encoder_binarize"} {
		t.Run(name, func(t *testing.T) {
			r := loadReference(t, name)
			m := testModel(t)
			feat, pos, err := m.EncodeMemory(context.Background(), r.input(t, "pix_feat"), r.input(t, "mask_high_res"),
				r.input(t, "binarize")[0] != 0, r.input(t, "object_score")[0])
			if err != nil {
				t.Fatal(err)
			}
			r.check(t, "maskmem_feat", feat)
			r.check(t, "maskmem_pos", pos)
		})
	}
}

func TestParityMemoryAttention(t *testing.T) {
	m := testModel(t)
	for _, name := range []string{"memory_attention", "memory_attention_p0"} {
		t.Run(name, func(t *testing.T) { memoryAttentionParity(t, m, name, parityTol) })
	}
}

// memoryAttentionParity runs m's memory attention on reference name's
// inputs and compares the output within tol (relative to its largest value).
func memoryAttentionParity(t *testing.T, m *Model, name string, tol float64) {
	r := loadReference(t, name)
	f := &Features{VisionFeat: r.input(t, "curr_feat"), VisionPos: r.input(t, "curr_pos")}
	memFeat, memPos := r.input(t, "mem_feat"), r.input(t, "mem_pos")
	slots := r.arr(t, "in_mem_slot").I64
	per := len(memFeat) / len(slots)
	frames := make([]MemoryFrame, len(slots))
	for i, s := range slots {
		frames[i] = MemoryFrame{Feat: memFeat[i*per : (i+1)*per], Pos: memPos[i*per : (i+1)*per], Slot: int(s)}
	}
	ptr, offsets := r.input(t, "ptr"), r.input(t, "ptr_offset")
	ptrs := make([]Pointer, len(offsets))
	for i := range ptrs {
		ptrs[i] = Pointer{Vec: ptr[i*256 : (i+1)*256], Offset: offsets[i]}
	}
	out, err := m.AttendMemory(context.Background(), f, frames, ptrs)
	if err != nil {
		t.Fatal(fmt.Errorf("M=%d P=%d: %w", len(frames), len(ptrs), err))
	}
	r.checkWithin(t, "conditioned_feat", out, tol)
}
