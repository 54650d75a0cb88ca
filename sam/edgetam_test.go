package sam

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

func TestLoadManifestEdgeTAM(t *testing.T) {
	m, err := LoadManifest(testutil.EdgeTAMModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Family != FamilyEdgeTAM || m.MemoryTokens != 512 || m.MemoryFrameLen() != 512*64 || m.AddTposEncToObjPtrs {
		t.Errorf("family %q memory_tokens %d frame %v add_tpos %v", m.Family, m.MemoryTokens, m.MemoryFrameShape(), m.AddTposEncToObjPtrs)
	}
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want []string
	}{
		{"no tokens", func(m map[string]any) { delete(m, "memory_tokens") }, []string{`family "edgetam" needs memory_tokens`}},
		{"tokens on sam2", func(m map[string]any) { m["family"] = "sam2.1" }, []string{"memory_tokens is 512", `only family "edgetam"`}},
		{"per-object", func(m map[string]any) { m["format"] = FormatPerObject }, []string{`family "edgetam" needs format`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyModelDir(t, testutil.EdgeTAMModel(t))
			editManifest(t, dir, c.edit)
			_, err := LoadManifest(dir)
			wantErr(t, err, c.want...)
		})
	}
}

// An EdgeTAM package runs a batch of objects through memory encoder and
// memory attention with latents as memory frames; bf16 matmul is refused.
func TestEdgeTAMMemoryLatents(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the model run")
	}
	dir := testutil.EdgeTAMModel(t)
	rt := newTestRuntime(t)
	_, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 1, Logger: quiet, MatMul: MatMulBF16})
	wantErr(t, err, "matmul bf16 is not supported for EdgeTAM")
	m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	man := m.Manifest()
	s, f := man.ImageSize, man.FeatureSize
	ctx := context.Background()
	pix := make([]float32, man.HiddenDim*f*f)
	for i := range pix {
		pix[i] = float32(i%7) * 0.1
	}
	masks := make([]float32, 2*s*s)
	for i := range masks {
		if i%s < s/2 {
			masks[i] = 5
		} else {
			masks[i] = -5
		}
	}
	feat, pos, err := m.EncodeMemoryBatch(ctx, pix, masks, []bool{true, false}, []float32{1, -1})
	if err != nil {
		t.Fatal(err)
	}
	per := man.MemoryFrameLen()
	if len(feat) != 2*per || len(pos) != 2*per {
		t.Fatalf("memory encoder gave %d/%d values, want 2 x %d", len(feat), len(pos), per)
	}
	feats := &Features{VisionFeat: pix, VisionPos: pix}
	objs := []ObjectMemory{
		{Frames: []MemoryFrame{{Feat: feat[:per], Pos: pos[:per], Slot: 0}}},
		{Frames: []MemoryFrame{{Feat: feat[per:], Pos: pos[:per], Slot: 0}}, Pointers: []Pointer{{Vec: make([]float32, man.HiddenDim), Offset: 1}}},
	}
	out, err := m.AttendMemoryBatch(ctx, feats, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2*man.HiddenDim*f*f {
		t.Fatalf("memory attention gave %d values", len(out))
	}
	// A SAM 2-sized memory frame is refused by name.
	objs[0].Frames[0].Feat = make([]float32, man.MemDim*f*f)
	_, err = m.AttendMemoryBatch(ctx, feats, objs[:1])
	wantErr(t, err, "memory frame 0 Feat", "want 32768")
}

// EdgeTAM's image encoder runs its convolutions in plain NCHW (no NCHWc
// reorders around the GELUs, sessionFactory.plainLayout); other graphs keep
// ONNX Runtime's blocked layout. Read from ONNX Runtime's own profile of one
// run: the memory encoder's reorders show the profile would list them.
func TestEdgeTAMEncoderLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the model run")
	}
	prefix := filepath.Join(t.TempDir(), "p_")
	m, err := Open(newTestRuntime(t), testutil.EdgeTAMModel(t), Options{Provider: ProviderCPU, Threads: 1, Logger: quiet, Profile: prefix})
	if err != nil {
		t.Fatal(err)
	}
	man := m.Manifest()
	ctx := context.Background()
	f, err := m.EncodeImage(ctx, make([]float32, 3*man.ImageSize*man.ImageSize))
	if err == nil {
		_, _, err = m.EncodeMemoryBatch(ctx, f.VisionFeat, make([]float32, man.ImageSize*man.ImageSize), []bool{true}, []float32{1})
	}
	m.Close() // writes the profiles
	if err != nil {
		t.Fatal(err)
	}
	reorders := func(graph string) int {
		t.Helper()
		files, _ := filepath.Glob(prefix + graph + "_*.json")
		if len(files) != 1 {
			t.Fatalf("profiles of %s: %v", graph, files)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		var events []struct {
			Args struct {
				Op string `json:"op_name"`
			} `json:"args"`
		}
		if err := json.Unmarshal(data, &events); err != nil {
			t.Fatalf("profile of %s: %v", graph, err)
		}
		n := 0
		for _, e := range events {
			if strings.HasPrefix(e.Args.Op, "Reorder") {
				n++
			}
		}
		return n
	}
	if n := reorders("image_encoder"); n != 0 {
		t.Errorf("EdgeTAM image encoder ran %d NCHWc reorders, want none", n)
	}
	if n := reorders("memory_encoder"); n == 0 {
		t.Errorf("memory encoder ran no NCHWc reorders: the profile check cannot see them")
	}
}
