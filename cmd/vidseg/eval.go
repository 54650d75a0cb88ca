package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/vidseg/vidseg/eval"
	"github.com/vidseg/vidseg/results"
)

func runEval(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "eval", "vidseg eval PRED GT [--json]",
		`Scores predicted masks against ground truth with the DAVIS measures: J (region
similarity, IoU), F (boundary accuracy) and J&F, per sequence and as the mean
over all objects. As in DAVIS semi-supervised evaluation, the objects are the
labels of the first ground-truth frame, and the first and last frames are not
scored.

GT is either one sequence (a folder of indexed PNGs, 00000.png, ...) or a
DAVIS root (one such folder per sequence). PRED mirrors it; a `+"`vidseg track`"+`
output folder (holding masks/) is accepted wherever a mask folder is.`,
		`  vidseg eval out/clip testdata/videos/clip/masks
  vidseg eval results/ DAVIS/Annotations/480p --json`)
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("eval needs PRED and GT, got %d argument(s) (run `vidseg eval --help`)", len(pos))
	}
	pred, gt := pos[0], pos[1]
	for _, d := range []string{pred, gt} {
		fi, err := os.Stat(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return inputErr(fmt.Errorf("eval: %s: no such directory", d))
			}
			return inputErr(fmt.Errorf("eval: %w", err))
		}
		if !fi.IsDir() {
			return inputErr(fmt.Errorf("eval: %s is not a directory", d))
		}
	}
	predRoot, gtRoot, staged, cleanup, err := stageEval(pred, gt)
	if err != nil {
		return err
	}
	defer cleanup()
	// Name the user's files in errors, not the staged copies.
	realNames := strings.NewReplacer(append(staged, predRoot, pred, gtRoot, gt)...)
	rep, err := eval.Evaluate(ctx, predRoot, gtRoot)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Missing predictions, size mismatches, unreadable PNGs: the inputs.
		return inputErr(errors.New(realNames.Replace(err.Error())))
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printEval(e.stdout, rep)
	return nil
}

func printEval(w io.Writer, rep *eval.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sequence\tobjects\tframes\tJ&F\tJ\tF\t")
	for _, s := range rep.Sequences {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t\n", s.Name, len(s.Objects), len(s.Frames), s.JF, s.J, s.F)
	}
	fmt.Fprintf(tw, "mean\t%d\t\t%.3f\t%.3f\t%.3f\t\n", rep.Objects, rep.JF, rep.J.Mean, rep.F.Mean)
	tw.Flush()
	fmt.Fprintf(w, "\nJ recall %.3f decay %.3f, F recall %.3f decay %.3f (means over %d objects)\n",
		rep.J.Recall, rep.J.Decay, rep.F.Recall, rep.F.Decay, rep.Objects)
}

// stageEval turns the accepted layouts into the DAVIS root layout that
// eval.Evaluate reads (root/<sequence>/<frame>.png), copying the PNGs into
// a temporary directory when the given folders are not already laid out so.
// staged pairs each staged sequence folder with the folder it came from.
func stageEval(pred, gt string) (predRoot, gtRoot string, staged []string, cleanup func(), err error) {
	nothing := func() {}
	if hasPNG(gt) {
		// One sequence: name it after the folder (its parent for ".../masks").
		name := filepath.Base(filepath.Clean(gt))
		if name == results.MasksDir {
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
		if err := copyPNGs(maskFolder(pred), filepath.Join(tmp, "pred", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		staged = []string{filepath.Join(tmp, "pred", name), maskFolder(pred), filepath.Join(tmp, "gt", name), gt}
		return filepath.Join(tmp, "pred"), filepath.Join(tmp, "gt"), staged, clean, nil
	}
	// A DAVIS root. Sequences kept as `vidseg track` folders (<seq>/masks)
	// on either side are staged into the plain layout.
	entries, err := os.ReadDir(gt)
	if err != nil {
		return "", "", nil, nothing, inputErr(fmt.Errorf("eval: %w", err))
	}
	var seqs []string
	direct := true
	for _, en := range entries {
		if !en.IsDir() {
			continue
		}
		seqs = append(seqs, en.Name())
		p, g := filepath.Join(pred, en.Name()), filepath.Join(gt, en.Name())
		if maskFolder(p) != p || maskFolder(g) != g {
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
		if err := copyPNGs(maskFolder(filepath.Join(gt, name)), filepath.Join(tmp, "gt", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		if err := copyPNGs(maskFolder(filepath.Join(pred, name)), filepath.Join(tmp, "pred", name)); err != nil {
			clean()
			return "", "", nil, nothing, err
		}
		staged = append(staged, filepath.Join(tmp, "pred", name), maskFolder(filepath.Join(pred, name)),
			filepath.Join(tmp, "gt", name), maskFolder(filepath.Join(gt, name)))
	}
	return filepath.Join(tmp, "pred"), filepath.Join(tmp, "gt"), staged, clean, nil
}

// maskFolder is dir/masks for a `vidseg track` output folder, else dir.
func maskFolder(dir string) string {
	if !hasPNG(dir) && hasPNG(filepath.Join(dir, results.MasksDir)) {
		return filepath.Join(dir, results.MasksDir)
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
			return inputErr(fmt.Errorf("eval: %w", err))
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
