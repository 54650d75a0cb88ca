package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/tracker"
)

// benchRun is one measured pass: one object count over the clip.
type benchRun struct {
	Objects int `json:"objects"`
	// Warmup frames ran untimed first: the prompted frame 0 and the
	// first frame tracked from memory, the first run of every graph
	// (ONNX Runtime allocates and plans then: several times slower).
	Warmup int `json:"warmup_frames"`
	// Frames were timed, fewer than Asked when the clip ended first.
	Frames    int                `json:"frames"`
	Asked     int                `json:"frames_asked"`
	Seconds   float64            `json:"seconds"`
	FPS       float64            `json:"fps"`
	MsPerFrm  map[string]float64 `json:"ms_per_frame"`
	PeakRSSMB float64            `json:"peak_rss_mb"`
}

type benchReport struct {
	Input    string     `json:"input"`
	Width    int        `json:"width"`
	Height   int        `json:"height"`
	Model    string     `json:"model"`
	Variant  string     `json:"variant"`
	Random   bool       `json:"random_weights"`
	Provider string     `json:"provider"`
	Mode     string     `json:"mode"`
	Threads  int        `json:"threads"`
	CPUs     int        `json:"cpus"`
	Runs     []benchRun `json:"runs"`
}

// Stage names, in pipeline order, for the table and JSON.
var benchStages = []string{"decode", "encoder", "memory_attention", "decoder", "memory_encoder", "go"}

func runBench(ctx context.Context, e *env, args []string) error {
	s, err := loadSettings(e, args)
	if err != nil {
		return err
	}
	fs := newFlags(e, "bench", "vidseg bench [INPUT] [--objects 1,2,4] [--frames N] [--json]",
		`Times the tracking pipeline as `+"`vidseg serve`"+` runs it (frame by frame,
forward): for each object count, one click per object on frame 0 and frame
1 tracked, untimed (the first run of each graph is several times slower),
then N frames tracked and timed. Reports frames/s, milliseconds per frame in each stage
(decode, image encoder, memory attention, mask decoder, memory encoder, and
Go's own work: preprocessing, selection, resampling) and the peak resident
memory of the process (VmHWM).

INPUT defaults to the first clip in testdata/videos; the model follows the
usual lookup (--model, VIDSEG_MODEL, config, ./models, the random fixture).
Random weights time the same work as real ones of the same architecture, but
the bundled fixture has reduced depth: its encoder is faster than a real one.`,
		`  vidseg bench
  vidseg bench ../shared/videos/01_dog.mp4 --objects 1,4 --frames 20 --json`)
	configFlag(fs)
	s.flag(fs, "model")
	s.flag(fs, "ort_lib")
	s.flag(fs, "provider")
	s.flag(fs, "threads")
	s.flag(fs, "mode")
	objectsFlag := fs.String("objects", "1,2,4", "object counts to measure, comma-separated")
	frames := fs.Int("frames", 8, "frames to time per object count (after two untimed warm-up frames)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("bench takes at most one INPUT, got %d", len(pos))
	}
	if *frames < 1 {
		return usagef("bench: --frames must be at least 1")
	}
	var counts []int
	for _, f := range strings.Split(*objectsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 255 {
			return usagef("bench: --objects %q: want counts from 1 to 255, e.g. 1,2,4", *objectsFlag)
		}
		counts = append(counts, n)
	}
	mode, err := tracker.ParseMode(s.get("mode"))
	if err != nil {
		return usagef("%v", err)
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
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lm, err := openModel(s, e.stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	man := lm.model.Manifest()
	threads, _ := s.int("threads")
	rep := benchReport{Input: input, Model: lm.choice.dir, Variant: man.Variant, Random: lm.choice.random || man.Fixture != nil,
		Provider: lm.model.Provider(), Mode: mode.String(), Threads: threads, CPUs: runtime.NumCPU()}

	for _, n := range counts {
		run, w, h, err := benchOnce(ctx, lm, mode, input, n, *frames, log)
		if err != nil {
			return err
		}
		rep.Width, rep.Height = w, h
		rep.Runs = append(rep.Runs, run)
		if run.Frames < run.Asked {
			fmt.Fprintf(e.stderr, "vidseg: bench: %d object(s): the clip ended after %d timed frames of the %d asked\n", n, run.Frames, run.Asked)
		}
		if !*asJSON {
			fmt.Fprintf(e.stderr, "bench: %d object(s): %.2f frames/s\n", n, run.FPS)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBench(e.stdout, rep)
	return nil
}

func benchOnce(ctx context.Context, lm *loadedModel, mode tracker.Mode, input string, objects, frames int, log *slog.Logger) (benchRun, int, int, error) {
	man := lm.model.Manifest()
	dec, err := openVideo(ctx, input, decode.Options{ModelSize: man.ImageSize})
	if err != nil {
		return benchRun{}, 0, 0, err
	}
	defer dec.Close()
	info := dec.Info()
	tr, err := tracker.New(lm.model, tracker.Config{Mode: mode, Logger: log})
	if err != nil {
		return benchRun{}, 0, 0, err
	}
	var decodeTime time.Duration
	next := func() (*decode.Frame, error) {
		t0 := time.Now()
		f, err := dec.Next(ctx)
		decodeTime += time.Since(t0)
		return f, err
	}

	f0, err := next()
	if err != nil {
		return benchRun{}, 0, 0, fmt.Errorf("bench: first frame: %w", err)
	}
	if _, err := tr.Track(ctx, f0); err != nil {
		return benchRun{}, 0, 0, err
	}
	// Clicks spread along the middle row, one per object.
	for j := range objects {
		x := float32(info.Width) * float32(j+1) / float32(objects+1)
		p := tracker.Prompt{Frame: 0, Object: j + 1, Points: []tracker.Point{{X: x, Y: float32(info.Height) / 2, Positive: true}}}
		if _, err := tr.Prompt(ctx, p); err != nil {
			return benchRun{}, 0, 0, err
		}
	}
	f0.Release()
	track := func() (bool, error) {
		f, err := next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer f.Release()
		_, err = tr.Track(ctx, f)
		return err == nil, err
	}
	// Frame 1 runs memory attention for the first time.
	warmup := 1
	if ok, err := track(); err != nil {
		return benchRun{}, 0, 0, err
	} else if ok {
		warmup++
	}
	decodeTime = 0
	before := tr.Stats()
	begin := time.Now()
	done := 0
	for ; done < frames; done++ {
		ok, err := track()
		if err != nil {
			return benchRun{}, 0, 0, err
		}
		if !ok {
			break
		}
	}
	elapsed := time.Since(begin)
	st := tr.Stats()
	st.Encoder -= before.Encoder
	st.MemoryAttention -= before.MemoryAttention
	st.Decoder -= before.Decoder
	st.MemoryEncoder -= before.MemoryEncoder
	st.Total -= before.Total
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(max(done, 1)) }
	fps := 0.0
	if done > 0 {
		fps = float64(done) / elapsed.Seconds()
	}
	run := benchRun{
		Objects: objects, Warmup: warmup, Frames: done, Asked: frames, Seconds: elapsed.Seconds(), FPS: fps,
		MsPerFrm: map[string]float64{
			"decode": per(decodeTime), "encoder": per(st.Encoder), "memory_attention": per(st.MemoryAttention),
			"decoder": per(st.Decoder), "memory_encoder": per(st.MemoryEncoder), "go": per(st.GoWork()),
		},
		PeakRSSMB: peakRSSMB(),
	}
	return run, info.Width, info.Height, nil
}

func printBench(w io.Writer, rep benchReport) {
	weights := ""
	if rep.Random {
		weights = ", random weights"
	}
	fmt.Fprintf(w, "input %s (%dx%d), model %s (%s%s) on %s, mode %s, %d CPUs\n\n",
		rep.Input, rep.Width, rep.Height, rep.Variant, rep.Model, weights, rep.Provider, rep.Mode, rep.CPUs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "objects\tframes\tframes/s\t")
	for _, s := range benchStages {
		fmt.Fprintf(tw, "%s ms\t", strings.ReplaceAll(s, "_", " "))
	}
	fmt.Fprint(tw, "peak RSS MB\t\n")
	for _, r := range rep.Runs {
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t", r.Objects, r.Frames, r.FPS)
		for _, s := range benchStages {
			fmt.Fprintf(tw, "%.1f\t", r.MsPerFrm[s])
		}
		fmt.Fprintf(tw, "%.0f\t\n", r.PeakRSSMB)
	}
	tw.Flush()
	if len(rep.Runs) > 0 {
		fmt.Fprintf(w, "\ntimed after %d untimed warm-up frames (the first run of each graph)\n", rep.Runs[0].Warmup)
	}
	for _, r := range rep.Runs {
		if r.Frames < r.Asked {
			fmt.Fprintf(w, "%d object(s): only %d of the %d frames asked were timed (the clip ended)\n", r.Objects, r.Frames, r.Asked)
		}
	}
}

// peakRSSMB is the process's peak resident set: VmHWM, else getrusage.
func peakRSSMB() float64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						return kb / 1024
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		return float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	return 0
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
	return "", inputErr(errors.New("bench: no INPUT given and no clip in testdata/videos (run `go run ./tools/genvideos` or pass a video)"))
}
