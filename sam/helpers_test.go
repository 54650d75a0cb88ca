package sam

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

// fixtureDir is the committed random-weight test export. SAM_TEST_MODEL
// points the tests at another export (e.g. a full-size one) instead.
func fixtureDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SAM_TEST_MODEL"); d != "" {
		return d
	}
	return testutil.FixtureModel(t)
}

// The tests share one Runtime (ONNX Runtime's environment is per process)
// and one Model of the fixture, opened on first use and closed by TestMain.
var shared struct {
	once  sync.Once
	rt    *Runtime
	rtErr error

	modelOnce sync.Once
	model     *Model
	modelErr  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.model != nil {
		if err := shared.model.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close shared model:", err)
			code = 1
		}
	}
	if shared.rt != nil {
		if err := shared.rt.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close shared runtime:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newTestRuntime returns the tests' shared Runtime.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	shared.once.Do(func() {
		lib, err := FindRuntimeLibrary("")
		if err != nil {
			shared.rtErr = err
			return
		}
		shared.rt, shared.rtErr = NewRuntime(lib)
	})
	if shared.rtErr != nil {
		t.Skipf("ONNX Runtime not available (make setup): %v", shared.rtErr)
	}
	return shared.rt
}

// testModel returns the shared Model of the fixture, on the CPU with 2
// threads.
func testModel(t testing.TB) *Model {
	t.Helper()
	rt := newTestRuntime(t)
	dir := fixtureDir(t)
	shared.modelOnce.Do(func() {
		shared.model, shared.modelErr = Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, Logger: quiet})
	})
	if shared.modelErr != nil {
		t.Fatal(shared.modelErr)
	}
	return shared.model
}

// quiet drops the models' log lines in tests.
var quiet = slog.New(slog.DiscardHandler)
