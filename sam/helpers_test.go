package sam

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the module root, two levels above this file's package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Dir(filepath.Dir(file))
}

// fixtureDir is the committed random-weight test export. SAM_TEST_MODEL
// points the tests at another export (e.g. a full-size one) instead.
func fixtureDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SAM_TEST_MODEL"); d != "" {
		return d
	}
	d := filepath.Join(repoRoot(t), "testdata", "model", "sam2.1_hiera_t_random")
	if _, err := os.Stat(filepath.Join(d, "manifest.json")); err != nil {
		t.Skipf("no model fixture at %s (tools/export writes it): %v", d, err)
	}
	return d
}

// fullModelDir is the full-size random export used by benchmarks only.
func fullModelDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), "third_party", "models", "sam2.1_hiera_t_random_full")
	if _, err := os.Stat(filepath.Join(d, "manifest.json")); err != nil {
		t.Skipf("no full-size export at %s: %v", d, err)
	}
	return d
}

// newTestRuntime opens the process's ONNX Runtime for one test.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	lib, err := FindRuntimeLibrary("")
	if err != nil {
		t.Skipf("ONNX Runtime not installed (make setup): %v", err)
	}
	rt, err := NewRuntime(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return rt
}

func openTestModel(t testing.TB, rt *Runtime, dir string) *Model {
	t.Helper()
	m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close model: %v", err)
		}
	})
	return m
}
