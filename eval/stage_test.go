package eval

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestStageTrackLayout(t *testing.T) {
	dir := t.TempDir()
	gt := filepath.Join(dir, "clip")          // one sequence of PNGs
	pred := filepath.Join(dir, "out", "clip") // a `vidseg track` folder
	for _, d := range []string{gt, filepath.Join(pred, "masks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"00000.png", "00001.png"} {
			if err := os.WriteFile(filepath.Join(d, n), []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	predRoot, gtRoot, _, cleanup, err := Stage(pred, gt, "masks")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(predRoot, "clip", "00001.png"), filepath.Join(gtRoot, "clip", "00000.png")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("staged %v", err)
		}
	}
	cleanup()
	if _, err := os.Stat(predRoot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup left %s", predRoot)
	}
	// A ground truth that cannot be listed is an input error.
	if _, _, _, _, err := Stage(pred, filepath.Join(gt, "00000.png"), "masks"); !errors.As(err, new(*InputError)) {
		t.Errorf("unreadable ground truth: %v, want an *InputError", err)
	}
}
