package eval

import (
	"fmt"
	"os"
	"path/filepath"
)

// An InputError is an input folder or file Stage could not read.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Stage turns the accepted layouts into the DAVIS root layout that
// Evaluate reads (root/<sequence>/<frame>.png), copying the PNGs into a
// temporary directory, removed by cleanup, when the given folders are not
// already laid out so. pred and gt are each one sequence (a folder of
// PNGs) or a DAVIS root; a sequence folder may also hold its PNGs in the
// sub-folder sub (`vidseg track` output: "masks"). staged pairs each
// staged sequence folder with the folder it came from.
func Stage(pred, gt, sub string) (predRoot, gtRoot string, staged []string, cleanup func(), err error) {
	nothing := func() {}
	// A track output folder as the ground truth is one sequence (its
	// masks/), not a DAVIS root whose only sequence is "masks".
	gt = maskFolder(sub, gt)
	if hasPNG(gt) {
		// One sequence: name it after the folder (its parent for ".../masks").
		name := filepath.Base(filepath.Clean(gt))
		if name == sub {
			name = filepath.Base(filepath.Dir(filepath.Clean(gt)))
		}
		tmp, err := os.MkdirTemp("", "vidseg-eval-")
		if err != nil {
			return "", "", nil, nothing, err
		}
		clean := func() { os.RemoveAll(tmp) }
		if err := copyPNGs(gt, filepath.Join(tmp, "gt", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		if err := copyPNGs(maskFolder(sub, pred), filepath.Join(tmp, "pred", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		staged = []string{filepath.Join(tmp, "pred", name), maskFolder(sub, pred), filepath.Join(tmp, "gt", name), gt}
		return filepath.Join(tmp, "pred"), filepath.Join(tmp, "gt"), staged, clean, nil
	}
	// A DAVIS root. Sequences kept as `vidseg track` folders (<seq>/masks)
	// on either side are staged into the plain layout.
	entries, err := os.ReadDir(gt)
	if err != nil {
		return "", "", nil, nothing, &InputError{fmt.Errorf("eval: %w", err)}
	}
	var seqs []string
	direct := true
	for _, en := range entries {
		if !en.IsDir() {
			continue
		}
		seqs = append(seqs, en.Name())
		p, g := filepath.Join(pred, en.Name()), filepath.Join(gt, en.Name())
		if maskFolder(sub, p) != p || maskFolder(sub, g) != g {
			direct = false
		}
	}
	if direct {
		return pred, gt, nil, nothing, nil
	}
	tmp, err := os.MkdirTemp("", "vidseg-eval-")
	if err != nil {
		return "", "", nil, nothing, err
	}
	clean := func() { os.RemoveAll(tmp) }
	for _, name := range seqs {
		if err := copyPNGs(maskFolder(sub, filepath.Join(gt, name)), filepath.Join(tmp, "gt", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		if err := copyPNGs(maskFolder(sub, filepath.Join(pred, name)), filepath.Join(tmp, "pred", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		staged = append(staged, filepath.Join(tmp, "pred", name), maskFolder(sub, filepath.Join(pred, name)),
			filepath.Join(tmp, "gt", name), maskFolder(sub, filepath.Join(gt, name)))
	}
	return filepath.Join(tmp, "pred"), filepath.Join(tmp, "gt"), staged, clean, nil
}

// maskFolder is dir/sub for a `vidseg track` output folder, else dir.
func maskFolder(sub, dir string) string {
	if !hasPNG(dir) && hasPNG(filepath.Join(dir, sub)) {
		return filepath.Join(dir, sub)
	}
	return dir
}

func hasPNG(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	return len(m) > 0
}

func copyPNGs(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(from, "*.png"))
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return &InputError{fmt.Errorf("eval: %w", err)}
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
