package sam

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/cmem"
	"github.com/vidseg/vidseg/internal/testutil"
)

func TestFindRuntimeLibrary(t *testing.T) {
	bundled := filepath.Join(testutil.RepoRoot(t), bundledRuntimeLibrary)
	if _, err := os.Stat(bundled); err != nil {
		t.Skipf("no bundled ONNX Runtime (make setup): %v", err)
	}
	t.Run("override", func(t *testing.T) {
		t.Setenv(EnvRuntimeLibrary, "/nonexistent/env.so")
		got, err := FindRuntimeLibrary(bundled)
		if err != nil || got != bundled {
			t.Fatalf("got %q, %v; want the override %q", got, err, bundled)
		}
		_, err = FindRuntimeLibrary("/nonexistent/flag.so")
		wantErr(t, err, "override", "/nonexistent/flag.so", "no such file")
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv(EnvRuntimeLibrary, "")
		t.Setenv(EnvORTSharedLibrary, bundled)
		if got, err := FindRuntimeLibrary(""); err != nil || got != bundled {
			t.Fatalf("got %q, %v; want %s's %q", got, err, EnvORTSharedLibrary, bundled)
		}
		t.Setenv(EnvRuntimeLibrary, "/nonexistent/x.so")
		_, err := FindRuntimeLibrary("")
		wantErr(t, err, EnvRuntimeLibrary, "/nonexistent/x.so")
	})
	t.Run("walk up from the working directory", func(t *testing.T) {
		t.Setenv(EnvRuntimeLibrary, "")
		t.Setenv(EnvORTSharedLibrary, "")
		// The test runs in sam/; the library is two levels up the tree.
		got, err := FindRuntimeLibrary("")
		if err != nil {
			t.Fatal(err)
		}
		if got != bundled {
			t.Fatalf("found %q, want %q", got, bundled)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		t.Setenv(EnvRuntimeLibrary, "")
		t.Setenv(EnvORTSharedLibrary, "")
		t.Chdir(t.TempDir())
		got, err := FindRuntimeLibrary("")
		if err == nil {
			// The test binary lives in a temp dir, so only a system-wide
			// install can be found from here.
			if strings.HasPrefix(got, "/usr/") {
				t.Skipf("a system-wide ONNX Runtime is installed at %s", got)
			}
			t.Fatalf("found %q from a temp dir", got)
		}
		wantErr(t, err, "not found", "/usr/lib/libonnxruntime.so.1", "ldconfig", "third_party/onnxruntime/lib/libonnxruntime.so.1")
	})
}

func TestRuntimeIsExclusive(t *testing.T) {
	rt := newTestRuntime(t)
	_, err := NewRuntime(rt.LibraryPath())
	wantErr(t, err, "already initialized")
	m, err := Open(rt, fixtureDir(t), Options{Provider: ProviderCPU, Threads: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, rt.Close(), "model(s) still open")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = m.EncodeImage(context.Background(), nil)
	wantErr(t, err, "image encoder: model is closed")
	_, _, err = m.EncodeMemory(context.Background(), nil, nil, false, 0)
	wantErr(t, err, "memory encoder: model is closed")
}

func TestOpenBadOptions(t *testing.T) {
	rt := newTestRuntime(t)
	dir := fixtureDir(t)
	_, err := Open(rt, dir, Options{Provider: "tpu"})
	wantErr(t, err, `unknown provider "tpu"`)
	_, err = Open(rt, dir, Options{GraphOptimization: "max"})
	wantErr(t, err, `unknown graph optimization level "max"`)
	_, err = Open(nil, dir, Options{})
	wantErr(t, err, "nil *sam.Runtime")
	_, err = Open(rt, t.TempDir(), Options{})
	wantErr(t, err, "no manifest.json")
}

// A graph with other inputs than the contract's is refused by name: here
// the memory encoder's file is replaced by the mask decoder.
func TestOpenUnexpectedGraphInputs(t *testing.T) {
	rt := newTestRuntime(t)
	dir := copyFixture(t)
	man, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, man.Graphs.MemoryEncoder)
	if err := os.Remove(enc); err != nil {
		t.Fatal(err)
	}
	dec, err := filepath.EvalSymlinks(filepath.Join(dir, man.Graphs.MaskDecoder))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dec, enc); err != nil {
		t.Fatal(err)
	}
	editManifest(t, dir, func(m map[string]any) {
		files := m["files"].(map[string]any)
		files[man.Graphs.MemoryEncoder] = files[man.Graphs.MaskDecoder]
	})
	_, err = Open(rt, dir, Options{Provider: ProviderCPU, Threads: 1, Logger: quiet})
	wantErr(t, err, "memory_encoder", "unexpected inputs", "found [image_embed", "expected [pix_feat mask_high_res binarize object_score]")
}

func TestProviderCUDAUnavailable(t *testing.T) {
	rt := newTestRuntime(t)
	dir := fixtureDir(t)
	m, err := Open(rt, dir, Options{Provider: ProviderCUDA, Threads: 1, Logger: quiet})
	if err == nil {
		// A CUDA-enabled ONNX Runtime on a GPU machine.
		defer m.Close()
		if m.Provider() != ProviderCUDA {
			t.Fatalf("provider %q", m.Provider())
		}
		t.Skip("CUDA is available here")
	}
	wantErr(t, err, "CUDA")
	var log bytes.Buffer
	m, err = Open(rt, dir, Options{Provider: ProviderAuto, Threads: 1, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatalf("auto did not fall back to CPU: %v", err)
	}
	defer m.Close()
	if m.Provider() != ProviderCPU {
		t.Fatalf("auto chose %q without CUDA", m.Provider())
	}
	if !strings.Contains(log.String(), "CUDA execution provider unavailable, using CPU") || !strings.Contains(log.String(), "provider=cpu") {
		t.Fatalf("the fallback was not logged:\n%s", log.String())
	}
}

func TestConstants(t *testing.T) {
	m := testModel(t)
	for name, n := range map[string]int{"no_mem_embed": 256, "no_obj_ptr": 256, "mask_downsample_weight": 16, "mask_downsample_bias": 1} {
		v, err := m.Constant(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != n {
			t.Errorf("%s has %d values, want %d", name, len(v), n)
		}
		v[0] = 12345 // a copy: must not change the model's
		if w, _ := m.Constant(name); w[0] == 12345 {
			t.Errorf("Constant(%s) returned the model's own slice", name)
		}
	}
	_, err := m.Constant("nope")
	wantErr(t, err, `constant "nope" is not in the model`, "no_mem_embed")
}

func TestBadInputs(t *testing.T) {
	m := testModel(t)
	ctx := context.Background()
	const F = 64 * 64
	f := &Features{
		FeatS0:     make([]float32, 32*256*256),
		FeatS1:     make([]float32, 64*128*128),
		VisionFeat: make([]float32, 256*F),
		VisionPos:  make([]float32, 256*F),
	}
	mem := MemoryFrame{Feat: make([]float32, 64*F), Pos: make([]float32, 64*F)}
	_, err := m.EncodeImage(ctx, make([]float32, 10))
	wantErr(t, err, "image encoder", "image has 10 values, want 3145728")
	_, err = m.DecodeMasks(ctx, make([]float32, 5), f, Prompt{})
	wantErr(t, err, "image embedding has 5 values")
	_, err = m.DecodeMasks(ctx, f.VisionFeat, &Features{FeatS0: f.FeatS0}, Prompt{})
	wantErr(t, err, "FeatS1 has 0 values")
	_, err = m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{Coords: [][2]float32{{1, 2}}})
	wantErr(t, err, "1 points but 0 labels")
	_, err = m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{Coords: [][2]float32{{1, 2}}, Labels: []float32{4}})
	wantErr(t, err, "label 4")
	_, err = m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{MaskInput: make([]float32, 3)})
	wantErr(t, err, "mask input has 3 values")
	_, err = m.DecodeMasks(ctx, f.VisionFeat, nil, Prompt{})
	wantErr(t, err, "nil features")
	_, _, err = m.EncodeMemory(ctx, f.VisionFeat, make([]float32, 256*256), true, 1)
	wantErr(t, err, "high-res mask has 65536 values, want 1048576")
	_, err = m.AttendMemory(ctx, f, nil, nil)
	wantErr(t, err, "no memory frames")
	_, err = m.AttendMemory(ctx, f, []MemoryFrame{mem, {Feat: mem.Feat}}, nil)
	wantErr(t, err, "memory frame 1 Pos has 0 values")
	_, err = m.AttendMemory(ctx, f, []MemoryFrame{{Feat: mem.Feat, Pos: mem.Pos, Slot: 7}}, nil)
	wantErr(t, err, "slot 7")
	_, err = m.AttendMemory(ctx, f, []MemoryFrame{mem}, []Pointer{{Vec: make([]float32, 64)}})
	wantErr(t, err, "pointer 0 has 64 values, want 256")
}

func TestContextCancel(t *testing.T) {
	m := testModel(t)
	image := HashUniform(3*1024*1024, 1, 2)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.EncodeImage(ctx, image)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the call: %v", err)
	}

	// Cancel while the encoder runs: ONNX Runtime's terminate flag stops it.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = m.EncodeImage(ctx, image)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled during the call: %v", err)
	}

	// The flag is reset: the next call runs.
	if _, err := m.EncodeImage(context.Background(), image); err != nil {
		t.Fatalf("after a cancelled run: %v", err)
	}
}

// Opening and closing a model repeatedly must not grow the process: Close
// frees every session and tensor.
func TestOpenCloseDoesNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the model many times")
	}
	rt := newTestRuntime(t)
	dir := fixtureDir(t)
	ctx := context.Background()
	image := HashUniform(3*1024*1024, 1, 2)
	cycle := func() {
		m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.EncodeImage(ctx, image)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{}); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Count the C heap in use, not RSS: glibc keeps freed arenas mapped,
	// so RSS climbs over the first cycles whether or not anything leaks.
	cycle() // one-time allocations: kernel registries, thread pools
	before := cmem.InUse()
	const n = 3
	for range n {
		cycle()
	}
	after := cmem.InUse()
	growth := float64(after-before) / (1 << 20)
	t.Logf("C heap in use %.1f MiB -> %.1f MiB after %d open/run/close cycles (RSS now %d MiB)",
		float64(before)/(1<<20), float64(after)/(1<<20), n, testutil.RSS(t)>>20)
	// One open model holds its weights (~40 MiB for the fixture) plus its
	// tensors; leaking any session or tensor set grows by that per cycle.
	if growth > 8 {
		t.Fatalf("C heap grew by %.1f MiB over %d cycles", growth, n)
	}
}
