package sam

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFixture makes a temporary model directory: the files in copies are
// copied (so they can be changed), the others symlinked to the fixture.
func copyFixture(t *testing.T, copies ...string) string {
	t.Helper()
	return copyModelDir(t, fixtureDir(t), copies...)
}

// copyModelDir is copyFixture for the model directory src.
func copyModelDir(t *testing.T, src string, copies ...string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.Name() == manifestName || contains(copies, e.Name()) {
			copyFile(t, from, to)
			continue
		}
		abs, err := filepath.Abs(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, to); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// editManifest rewrites dir/manifest.json through a generic map.
func editManifest(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, manifestName)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if raw, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
	t.Logf("error as expected: %v", err)
}

func TestLoadManifestFixture(t *testing.T) {
	m, err := LoadManifest(fixtureDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != ManifestFormat || m.ImageSize != 1024 || m.MaskSize != 256 || m.FeatureSize != 64 ||
		m.HiddenDim != 256 || m.MemDim != 64 || m.NumMaskmem != 7 || m.MaxObjPtrsInEncoder != 16 {
		t.Errorf("unexpected sizes: %+v", m)
	}
	if m.Mean() != [3]float32{0.485, 0.456, 0.406} || m.Std() != [3]float32{0.229, 0.224, 0.225} {
		t.Errorf("mean %v std %v", m.Mean(), m.Std())
	}
	if m.Samurai.StableFramesThreshold != 15 || m.Samurai.KFScoreWeight != 0.25 {
		t.Errorf("samurai %+v", m.Samurai)
	}
	if m.SigmoidScaleForMemEnc != 20 || m.SigmoidBiasForMemEnc != -10 || !m.BinarizeMaskFromPtsForMemEnc {
		t.Errorf("memory encoder settings %+v", m)
	}
	for _, name := range []string{"no_mem_embed", "no_obj_ptr", "mask_downsample_weight", "mask_downsample_bias"} {
		if _, ok := m.Constants[name]; !ok {
			t.Errorf("constant %s missing", name)
		}
	}
	if len(m.Files) < 5 {
		t.Errorf("files: %v", m.Files)
	}
}

func TestLoadManifestCorruptByte(t *testing.T) {
	dir := copyFixture(t, "memory_encoder.onnx")
	p := filepath.Join(dir, "memory_encoder.onnx")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadManifest(dir)
	wantErr(t, err, "memory_encoder.onnx", "SHA-256 mismatch")
}

func TestLoadManifestMissingFile(t *testing.T) {
	dir := copyFixture(t)
	if err := os.Remove(filepath.Join(dir, ConstantsFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadManifest(dir)
	wantErr(t, err, ConstantsFile, "missing")
}

func TestLoadManifestExtraGraph(t *testing.T) {
	dir := copyFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "extra.onnx"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadManifest(dir)
	wantErr(t, err, "unknown graph extra.onnx")
}

func TestLoadManifestNotAModelDir(t *testing.T) {
	_, err := LoadManifest(t.TempDir())
	wantErr(t, err, "no manifest.json", "export a model with")
	_, err = LoadManifest(filepath.Join(t.TempDir(), "nope"))
	wantErr(t, err, "does not exist", "export a model with")
}

func TestLoadManifestBadFields(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want []string
	}{
		{"format", func(m map[string]any) { m["format"] = "vidseg-sam2/9" }, []string{`"vidseg-sam2/9" is not supported`}},
		{"precision", func(m map[string]any) { m["precision"] = "int4" }, []string{`precision "int4" is not supported`, "fp32, fp16 or int8"}},
		{"graph", func(m map[string]any) { delete(m["graphs"].(map[string]any), "mask_decoder") }, []string{"graphs.mask_decoder is missing"}},
		{"size", func(m map[string]any) { m["feature_size"] = 0 }, []string{"feature_size is 0"}},
		{"sha", func(m map[string]any) { m["files"].(map[string]any)[ConstantsFile] = "abc" }, []string{ConstantsFile, "not a SHA-256"}},
		{"json", nil, []string{"parse"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t)
			if c.edit != nil {
				editManifest(t, dir, c.edit)
			} else if err := os.WriteFile(filepath.Join(dir, manifestName), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadManifest(dir)
			wantErr(t, err, c.want...)
		})
	}
}

// A package labelled per-object is checked against the per-object graph
// contract: the batched fixture's memory attention does not pass it.
func TestOpenPerObjectFormatChecksShapes(t *testing.T) {
	dir := copyFixture(t)
	editManifest(t, dir, func(m map[string]any) { m["format"] = FormatPerObject })
	man, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if man.Batched() {
		t.Fatalf("format %s reads as batched", man.Format)
	}
	_, err = Open(newTestRuntime(t), dir, Options{Provider: ProviderCPU, Threads: 1, Logger: quiet})
	wantErr(t, err, "memory_attention", "input mem_feat", "expected [-1 64 64 64]")
}
