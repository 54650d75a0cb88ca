// Package bench times the tracking pipeline per stage, as `vidseg bench`
// reports it.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
)

// ErrUnknownLength: the file does not say how many frames it has.
var ErrUnknownLength = errors.New("the number of frames is unknown")

// Run is one measured pass: one object count over the clip.
type Run struct {
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
	// CallsPerFrm is the model's graph runs per timed frame, by graph;
	// CopiedPerFrm the bytes it copied between Go memory and ONNX Runtime
	// per timed frame (sam.Counters). Absent when the model does not count.
	CallsPerFrm  map[string]float64 `json:"calls_per_frame,omitempty"`
	CopiedPerFrm *float64           `json:"copied_bytes_per_frame,omitempty"`
}

// counting is a model that counts its runs and copies (*sam.Model,
// *sam.Client).
type counting interface {
	Counters() sam.Counters
}

// Report is every pass over one clip with one model.
type Report struct {
	Input    string `json:"input"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Model    string `json:"model"`
	Variant  string `json:"variant"`
	Random   bool   `json:"random_weights"`
	Provider string `json:"provider"`
	Mode     string `json:"mode"`
	Threads  int    `json:"threads"`
	CPUs     int    `json:"cpus"`
	Runs     []Run  `json:"runs"`
}

// Stage names, in pipeline order, for the table and JSON.
var Stages = []string{"decode", "encoder", "memory_attention", "decoder", "memory_encoder", "go"}

// DefaultWarmup is how many frames run untimed first by default: the
// prompted frame 0 and frame 1, the first tracked from memory. A warmup of 7
// also fills the memory bank (the prompted frame and the 6 most recent), so
// that every timed frame attends to a full one; the first of them still
// gathers the whole bank into the model's input once (copied_bytes), which
// a warmup of 8 leaves untimed too.
const DefaultWarmup = 2

// Frames is the clip Measure tracks: a frame source (model-size input
// included) with the frames' size and count.
type Frames struct {
	Source        tracker.FrameSource
	Width, Height int
	Count         int // frames in the clip; <= 0 when unknown
	// DecodeTime reports the time spent decoding so far; nil when the
	// frames were decoded up front.
	DecodeTime func() time.Duration
}

// Measure times one pass as `vidseg track` runs it: the file preset, one
// click per object on frame 0, warmup frames in all propagated untimed (the
// first run of each graph is several times slower; <= 0 means
// DefaultWarmup), then frames more frames propagated forward and timed.
func Measure(ctx context.Context, m tracker.Model, clip Frames, mode tracker.Mode, objects, frames, warmup int, log *slog.Logger) (Run, error) {
	if clip.Count <= 0 {
		return Run{}, ErrUnknownLength
	}
	if warmup <= 0 {
		warmup = DefaultWarmup
	}
	n := min(frames+warmup, clip.Count)
	src := clip.Source
	decoded := clip.DecodeTime
	if decoded == nil {
		decoded = func() time.Duration { return 0 }
	}
	cfg := tracker.FilePreset(mode)
	cfg.NumFrames, cfg.Source, cfg.Logger = n, src, log
	tr, err := tracker.New(m, cfg)
	if err != nil {
		return Run{}, err
	}
	defer tr.Close()
	// Clicks spread along the middle row, one per object.
	prompts := make([]prompt.Prompt, objects)
	for j := range prompts {
		x := float32(clip.Width) * float32(j+1) / float32(objects+1)
		prompts[j] = prompt.Prompt{Frame: 0, Object: j + 1, Points: []prompt.Point{{X: x, Y: float32(clip.Height) / 2, Positive: true}}}
	}

	var (
		seen, done int
		begin      time.Time
		before     tracker.Stats
		decBefore  time.Duration
		counted    sam.Counters
	)
	counter, counts := m.(counting)
	count := func(*tracker.FrameResult) error {
		seen++
		switch {
		case seen == min(warmup, n):
			// The clock starts once the warm-up frames are out.
			before, decBefore, begin = tr.Stats(), decoded(), time.Now()
			if counts {
				counted = counter.Counters()
			}
		case seen > warmup:
			done++
		}
		return nil
	}
	if err := tr.Run(ctx, prompts, []tracker.PropagateOptions{{Start: 0}}, count); err != nil {
		return Run{}, err
	}
	elapsed := time.Since(begin)
	st := tr.Stats()
	st.Encoder -= before.Encoder
	st.MemoryAttention -= before.MemoryAttention
	st.Decoder -= before.Decoder
	st.MemoryEncoder -= before.MemoryEncoder
	decodeTime := decoded() - decBefore // inside the tracker's total: not Go's work
	// Go's own work is the measured wall time less the model calls and
	// decoding. (Stats.Total cannot be diffed here: Propagate adds to it
	// only when it returns, so the warm-up frames would count as Go work.)
	goWork := elapsed - st.Encoder - st.MemoryAttention - st.Decoder - st.MemoryEncoder - decodeTime
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(max(done, 1)) }
	fps := 0.0
	if done > 0 {
		fps = float64(done) / elapsed.Seconds()
	}
	run := Run{
		Objects: objects, Warmup: min(warmup, seen), Frames: done, Asked: frames, Seconds: elapsed.Seconds(), FPS: fps,
		MsPerFrm: map[string]float64{
			"decode": per(decodeTime), "encoder": per(st.Encoder), "memory_attention": per(st.MemoryAttention),
			"decoder": per(st.Decoder), "memory_encoder": per(st.MemoryEncoder), "go": per(max(goWork, 0)),
		},
		PeakRSSMB: PeakRSSMB(),
	}
	if counts && done > 0 {
		c := counter.Counters().Sub(counted)
		n := float64(done)
		run.CallsPerFrm = map[string]float64{
			"encoder": float64(c.ImageEncoder) / n, "memory_attention": float64(c.MemoryAttention) / n,
			"decoder": float64(c.MaskDecoder) / n, "memory_encoder": float64(c.MemoryEncoder) / n,
			// runs through IO binding, with features held by ONNX Runtime
			// (sam.Options.Resident)
			"bound": float64(c.BoundRuns) / n,
		}
		copied := float64(c.CopiedBytes) / n
		run.CopiedPerFrm = &copied
	}
	return run, nil
}

// Print writes the report as a table.
func Print(w io.Writer, rep Report) {
	weights := ""
	if rep.Random {
		weights = ", random weights"
	}
	fmt.Fprintf(w, "input %s (%dx%d), model %s (%s%s) on %s, mode %s, %d CPUs\n\n",
		rep.Input, rep.Width, rep.Height, rep.Variant, rep.Model, weights, rep.Provider, rep.Mode, rep.CPUs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "objects\tframes\tframes/s\t")
	for _, s := range Stages {
		fmt.Fprintf(tw, "%s ms\t", strings.ReplaceAll(s, "_", " "))
	}
	fmt.Fprint(tw, "peak RSS MB\t\n")
	for _, r := range rep.Runs {
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t", r.Objects, r.Frames, r.FPS)
		for _, s := range Stages {
			fmt.Fprintf(tw, "%.1f\t", r.MsPerFrm[s])
		}
		fmt.Fprintf(tw, "%.0f\t\n", r.PeakRSSMB)
	}
	tw.Flush()
	for _, r := range rep.Runs {
		if r.CopiedPerFrm == nil {
			continue
		}
		c := r.CallsPerFrm
		fmt.Fprintf(w, "%d object(s) per frame: graph runs encoder %.2g, memory attention %.2g, decoder %.2g, memory encoder %.2g; %.1f MB copied between Go and ONNX Runtime\n",
			r.Objects, c["encoder"], c["memory_attention"], c["decoder"], c["memory_encoder"], *r.CopiedPerFrm/1e6)
	}
	if len(rep.Runs) > 0 {
		fmt.Fprintf(w, "\ntimed after %d untimed warm-up frames (the first run of each graph)\n", rep.Runs[0].Warmup)
	}
	for _, r := range rep.Runs {
		if r.Frames < r.Asked {
			fmt.Fprintf(w, "%d object(s): only %d of the %d frames asked were timed (the clip ended)\n", r.Objects, r.Frames, r.Asked)
		}
	}
}

// PeakRSSMB is the process's peak resident set: VmHWM, else getrusage.
func PeakRSSMB() float64 {
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
