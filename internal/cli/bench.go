package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/bench"
	"github.com/vidseg/vidseg/tracker"
)

// BenchJob is one `vidseg bench` run, its flags checked.
type BenchJob struct {
	Input  string
	Counts []int // object counts to measure
	Frames int   // timed frames per count
	Warmup int   // untimed frames first (0: bench.DefaultWarmup)
	Mode   tracker.Mode
	JSON   bool
}

// Bench times the tracking pipeline on j.Input for each object count
// (internal/bench) and prints the report.
func Bench(ctx context.Context, e *Env, s *Settings, j BenchJob) error {
	if err := CheckInput(j.Input); err != nil {
		return err
	}
	log := NewLogger(e.Stderr, false)
	lm, err := OpenModel(s, e.Stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	man := lm.Manifest()
	threads, _ := s.Int("threads")
	rep := bench.Report{Input: j.Input, Model: lm.Choice.Dir, Variant: man.Variant, Random: lm.Choice.Random || man.Fixture != nil,
		Provider: lm.Provider(), Mode: j.Mode.String(), Threads: threads, CPUs: runtime.NumCPU()}

	for _, n := range j.Counts {
		dec, err := OpenVideo(ctx, j.Input, decode.Options{ModelSize: lm.Manifest().ImageSize})
		if err != nil {
			return err
		}
		info := dec.Info()
		rep.Width, rep.Height = info.Width, info.Height
		src := decode.NewSource(dec, info.Frames, 4)
		clip := bench.Frames{Source: src, Width: info.Width, Height: info.Height, Count: info.Frames,
			DecodeTime: func() time.Duration { return src.Stats().Time }}
		run, err := bench.Measure(ctx, lm.Model, clip, j.Mode, n, j.Frames, j.Warmup, log)
		dec.Close()
		if errors.Is(err, bench.ErrUnknownLength) {
			return InputErr(fmt.Errorf("bench: %s: %w", j.Input, err))
		}
		if err != nil {
			return err
		}
		rep.Runs = append(rep.Runs, run)
		if run.Frames < run.Asked {
			fmt.Fprintf(e.Stderr, "vidseg: bench: %d object(s): the clip ended after %d timed frames of the %d asked\n", n, run.Frames, run.Asked)
		}
		if !j.JSON {
			fmt.Fprintf(e.Stderr, "bench: %d object(s): %.2f frames/s\n", n, run.FPS)
		}
	}
	if j.JSON {
		return WriteJSON(e.Stdout, rep)
	}
	bench.Print(e.Stdout, rep)
	return nil
}

// DefaultClip is the first generated clip in testdata/videos
// (testdata/videos/<clip>/video.mp4).
func DefaultClip() (string, error) {
	for _, root := range SearchRoots() {
		matches, _ := filepath.Glob(filepath.Join(root, "testdata", "videos", "*", "video.mp4"))
		more, _ := filepath.Glob(filepath.Join(root, "testdata", "videos", "*.mp4"))
		matches = append(matches, more...)
		if len(matches) > 0 {
			sort.Strings(matches)
			return matches[0], nil
		}
	}
	return "", InputErr(errors.New("bench: no INPUT given and no clip in testdata/videos (run `go run ./tools/genvideos` or pass a video)"))
}
