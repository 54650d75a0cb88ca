package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/internal/bench"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/tracker"
)

func runBench(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "bench", "vidseg bench [INPUT] [--objects 1,2,4] [--frames N] [--warmup N] [--json]",
		`Times the tracking pipeline as `+"`vidseg track`"+` runs it (prompts, then
propagation forward): for each object count, one click per object on frame 0,
and frame 1 tracked, untimed (the first run of each graph is several times
slower; --warmup 7 also fills the memory bank, so that every timed frame has
full memory; the first of them still copies the whole bank into the model's
input once, which --warmup 8 leaves untimed), then N frames tracked and timed. Reports frames/s, milliseconds per frame in each stage
(decode, image encoder, memory attention, mask decoder, memory encoder, and
Go's own work: preprocessing, selection, resampling) and the peak resident
memory of the process (VmHWM).

INPUT defaults to the first clip in testdata/videos; the model follows the
usual lookup (--model, VIDSEG_MODEL, config, ./models, the random fixture).
Random weights time the same work as real ones of the same architecture, but
the bundled fixture has reduced depth: its encoder is faster than a real one.`,
		`  vidseg bench
  vidseg bench ../shared/videos/01_dog.mp4 --objects 1,4 --frames 20 --json
  vidseg bench ../shared/videos/01_dog.mp4 --objects 1,4 --warmup 7 --frames 8`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "attention", "matmul", "resident", "mode")
	objectsFlag := fs.String("objects", "1,2,4", "object counts to measure, comma-separated")
	frames := fs.Int("frames", 8, "frames to time per object count (after the untimed warm-up frames)")
	warmup := fs.Int("warmup", bench.DefaultWarmup, "frames tracked untimed first, the prompted one included (7: a full memory bank for every timed frame)")
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
	if *warmup < 1 {
		return cli.Usagef("bench: --warmup must be at least 1 (the prompted frame)")
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
	} else if input, err = cli.DefaultClip(); err != nil {
		return err
	}
	return cli.Bench(ctx, e, s, cli.BenchJob{Input: input, Counts: counts, Frames: *frames, Warmup: *warmup, Mode: mode, JSON: *asJSON})
}
