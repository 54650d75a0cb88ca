package sam

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

func TestLoadCUDAWithoutProvider(t *testing.T) {
	c := loadCUDA(filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	if c.Usable() || c.Provider != "" || !strings.Contains(c.Err.Error(), "libonnxruntime_providers_cuda.so") || !strings.Contains(c.Err.Error(), "make setup-gpu") {
		t.Fatalf("CPU build: got %+v, want unusable, naming the provider library and make setup-gpu", c)
	}
}

func TestLoadCUDAWithoutDriver(t *testing.T) {
	if HasNVIDIAGPU() {
		t.Skip("this machine has an NVIDIA driver")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cudaProviderLib), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := loadCUDA(filepath.Join(dir, "libonnxruntime.so.1"))
	if c.Usable() || c.Provider == "" || !strings.Contains(c.Err.Error(), "no NVIDIA driver") {
		t.Fatalf("no driver: got %+v, want the provider found and 'no NVIDIA driver'", c)
	}
}

// The GPU build's provider (make setup-gpu) names the CUDA 13 libraries
// that loadCUDA must find; skipped where it is not installed.
func TestCUDADependencies(t *testing.T) {
	p := filepath.Join(testutil.RepoRoot(t), "third_party/onnxruntime-gpu/lib", cudaProviderLib)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("GPU build of ONNX Runtime absent (make setup-gpu): %v", err)
	}
	deps, err := cudaDependencies(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13"} {
		if !slices.Contains(deps, want) {
			t.Errorf("dependencies %v lack %s", deps, want)
		}
	}
	if slices.Contains(deps, "libcuda.so.1") {
		t.Errorf("dependencies %v include the driver's libcuda.so.1", deps)
	}
	if got := cudaMajor(deps); got != "13" {
		t.Errorf("CUDA major %q, want 13", got)
	}
}

func TestCUDASearchDirsEnvFirst(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	t.Setenv(EnvCUDALibs, a+string(os.PathListSeparator)+b+string(os.PathListSeparator)+"/nonexistent")
	dirs := cudaSearchDirs()
	if len(dirs) < 2 || dirs[0] != a || dirs[1] != b || slices.Contains(dirs, "/nonexistent") {
		t.Fatalf("search dirs %v: want %s and %s first, missing folders dropped", dirs, a, b)
	}
}

func TestSoname(t *testing.T) {
	libs, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/libm.so.6")
	if len(libs) == 0 {
		t.Skip("no /usr/lib/x86_64-linux-gnu/libm.so.6")
	}
	if got := soname(libs[0]); got != "libm.so.6" {
		t.Fatalf("soname %q, want libm.so.6", got)
	}
	if got := soname(filepath.Join(t.TempDir(), "libnot.so.1")); got != "libnot.so.1" {
		t.Fatalf("unreadable file: soname %q, want its name", got)
	}
}
