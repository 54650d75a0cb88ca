package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/sam"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// openFixture opens the committed random-weight model, skipping when the
// ONNX Runtime library or the fixture is absent.
func openFixture(t testing.TB) *sam.Model {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(root, "testdata", "model", "sam2.1_hiera_t_random")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Skipf("fixture model absent (%v): run tools/export/make_fixture.sh", err)
	}
	lib, err := sam.FindRuntimeLibrary("")
	if err != nil {
		t.Skipf("ONNX Runtime library not found (run make setup): %v", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	m, err := sam.Open(rt, dir, sam.Options{Provider: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sliceSource serves frames decoded up front.
type sliceSource []*decode.Frame

func (s sliceSource) Frame(_ context.Context, i int) (*decode.Frame, error) {
	if i < 0 || i >= len(s) {
		return nil, fmt.Errorf("frame %d of %d: %w", i, len(s), ErrFrameRange)
	}
	return s[i], nil
}

// readFrames decodes the first n frames of path with 1024x1024 model input.
func readFrames(t testing.TB, path string, n int) sliceSource {
	t.Helper()
	ctx := context.Background()
	d, err := decode.Open(ctx, path, decode.Options{ModelSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out sliceSource
	for len(out) < n {
		f, err := d.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

func sharedVideo(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "..", "shared", "videos", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared clip %s absent (%v): tests look for ../shared/videos beside the repository", name, err)
	}
	return p
}
