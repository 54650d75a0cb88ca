package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/bench"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/tracker"
)

func runBench(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "bench", "vidseg bench [INPUT] [--objects 1,2,4] [--frames N] [--json]",
		`Times the tracking pipeline as `+"`vidseg track`"+` runs it (prompts, then
propagation forward): for each object count, one click per object on frame 0,
and frame 1 tracked, untimed (the first run of each graph is several times
slower), then N frames tracked and timed. Reports frames/s, milliseconds per frame in each stage
(decode, image encoder, memory attention, mask decoder, memory encoder, and
Go's own work: preprocessing, selection, resampling) and the peak resident
memory of the process (VmHWM).

INPUT defaults to the first clip in testdata/videos; the model follows the
usual lookup (--model, VIDSEG_MODEL, config, ./models, the random fixture).
Random weights time the same work as real ones of the same architecture, but
the bundled fixture has reduced depth: its encoder is faster than a real one.`,
		`  vidseg bench
  vidseg bench ../shared/videos/01_dog.mp4 --objects 1,4 --frames 20 --json`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "mode")
	objectsFlag := fs.String("objects", "1,2,4", "object counts to measure, comma-separated")
	frames := fs.Int("frames", 8, "frames to time per object count (after two untimed warm-up frames)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return cli.Usagef("bench takes at most one INPUT, got %d", len(pos))
	}
	if *frames < 1 {
		return cli.Usagef("bench: --frames must be at least 1")
	}
	var counts []int
	for _, f := range strings.Split(*objectsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 255 {
			return cli.Usagef("bench: --objects %q: want counts from 1 to 255, e.g. 1,2,4", *objectsFlag)
		}
		counts = append(counts, n)
	}
	mode, err := tracker.ParseMode(s.Get("mode"))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	input := ""
	if len(pos) == 1 {
		input = pos[0]
	} else if input, err = defaultClip(); err != nil {
		return err
	}
	if err := checkInput(input); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lm, err := openModel(s, e.Stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	man := lm.model.Manifest()
	threads, _ := s.Int("threads")
	rep := bench.Report{Input: input, Model: lm.choice.Dir, Variant: man.Variant, Random: lm.choice.Random || man.Fixture != nil,
		Provider: lm.model.Provider(), Mode: mode.String(), Threads: threads, CPUs: runtime.NumCPU()}

	for _, n := range counts {
		dec, err := openVideo(ctx, input, decode.Options{ModelSize: lm.model.Manifest().ImageSize})
		if err != nil {
			return err
		}
		rep.Width, rep.Height = dec.Info().Width, dec.Info().Height
		run, err := bench.Measure(ctx, lm.model, dec, mode, n, *frames, log)
		dec.Close()
		if errors.Is(err, bench.ErrUnknownLength) {
			return cli.InputErr(fmt.Errorf("bench: %s: %w", input, err))
		}
		if err != nil {
			return err
		}
		rep.Runs = append(rep.Runs, run)
		if run.Frames < run.Asked {
			fmt.Fprintf(e.Stderr, "vidseg: bench: %d object(s): the clip ended after %d timed frames of the %d asked\n", n, run.Frames, run.Asked)
		}
		if !*asJSON {
			fmt.Fprintf(e.Stderr, "bench: %d object(s): %.2f frames/s\n", n, run.FPS)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	bench.Print(e.Stdout, rep)
	return nil
}

// defaultClip is the first generated clip in testdata/videos
// (testdata/videos/<clip>/video.mp4).
func defaultClip() (string, error) {
	for _, root := range searchRoots() {
		matches, _ := filepath.Glob(filepath.Join(root, "testdata", "videos", "*", "video.mp4"))
		more, _ := filepath.Glob(filepath.Join(root, "testdata", "videos", "*.mp4"))
		matches = append(matches, more...)
		if len(matches) > 0 {
			sort.Strings(matches)
			return matches[0], nil
		}
	}
	return "", cli.InputErr(errors.New("bench: no INPUT given and no clip in testdata/videos (run `go run ./tools/genvideos` or pass a video)"))
}
