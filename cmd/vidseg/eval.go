package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vidseg/vidseg/eval"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/results"
)

func runEval(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "eval", "vidseg eval PRED GT [--json]",
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
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return cli.Usagef("eval needs PRED and GT, got %d argument(s) (run `vidseg eval --help`)", len(pos))
	}
	pred, gt := pos[0], pos[1]
	for _, d := range []string{pred, gt} {
		fi, err := os.Stat(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return cli.InputErr(fmt.Errorf("eval: %s: no such directory", d))
			}
			return cli.InputErr(fmt.Errorf("eval: %w", err))
		}
		if !fi.IsDir() {
			return cli.InputErr(fmt.Errorf("eval: %s is not a directory", d))
		}
	}
	predRoot, gtRoot, staged, cleanup, err := eval.Stage(pred, gt, results.MasksDir)
	if errors.As(err, new(*eval.InputError)) {
		return cli.InputErr(err)
	}
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
		return cli.InputErr(errors.New(realNames.Replace(err.Error())))
	}
	if *asJSON {
		return cli.WriteJSON(e.Stdout, rep)
	}
	eval.Print(e.Stdout, rep)
	return nil
}
