package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/tracker"
)

// TrackJob is one `vidseg track` run, its flags checked.
type TrackJob struct {
	Input, Out string
	Prompts    *prompt.Set
	Resume     *RunRecord // the run to continue, or nil
	Mode       tracker.Mode
	Limit      int // frames; 0 = all

	Reverse, Both, NonOverlap, NoOverlay, Quiet, Verbose bool
}

// Track probes the input, opens the model, tracks the prompts through the
// frames and writes the results (results.Writer) and the overlay in j.Out.
func Track(ctx context.Context, e *Env, s *Settings, j TrackJob) error {
	if err := CheckInput(j.Input); err != nil {
		return err
	}
	// Probe the input (and check the prompts against its size) before the
	// model loads, which takes seconds: a bad input is reported at once.
	frames, list, err := ProbeInput(ctx, j.Input, j.Prompts, j.Limit, e.Stderr)
	if err != nil {
		return err
	}

	log := NewLogger(e.Stderr, j.Verbose)
	lm, err := OpenModel(s, e.Stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	man := lm.Manifest()

	dec, err := OpenVideo(ctx, j.Input, decode.Options{ModelSize: man.ImageSize})
	if err != nil {
		return err
	}
	defer dec.Close()
	info := dec.Info()
	if info.Live {
		return Usagef("track: %s is a live source; track works on files (use `vidseg serve` for streams)", j.Input)
	}
	if j.Resume != nil {
		// The recorded prompts were checked when the run began.
		list = j.Resume.Prompts
		if len(list) == 0 {
			return InputErr(fmt.Errorf("track --resume %s: %s records no prompt", j.Out, results.RunFile))
		}
	}
	first, last := list[0].Frame, list[0].Frame
	for _, p := range list {
		first, last = min(first, p.Frame), max(last, p.Frame)
	}

	src := decode.NewSource(dec, frames, 4)
	cfg := tracker.FilePreset(j.Mode)
	cfg.NonOverlap, cfg.NumFrames, cfg.Source, cfg.Logger = j.NonOverlap, frames, src, log
	// A backward pass after a forward one reads memory of frames the
	// forward pass made, as the reference does: keep them.
	cfg.KeepAll = j.Both
	tr, err := tracker.New(lm.Model, cfg)
	if err != nil {
		return err
	}
	if j.Resume != nil && j.Resume.Model != lm.Name() {
		return ModelErr(fmt.Errorf("track --resume %s: the run was started with model %s, not %s: its masks would not belong with the new ones", j.Out, j.Resume.Model, lm.Name()))
	}
	if j.Resume == nil {
		abs, err := filepath.Abs(j.Input)
		if err != nil || strings.Contains(j.Input, "://") {
			abs = j.Input
		}
		rec := &RunRecord{Input: abs, Limit: j.Limit, Mode: j.Mode.String(), Model: lm.Name(),
			Reverse: j.Reverse, Both: j.Both, NonOverlap: j.NonOverlap, NoOverlay: j.NoOverlay, Present: tr.PresenceThreshold(), Prompts: list}
		if err := os.MkdirAll(j.Out, 0o755); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		if err := SaveRun(j.Out, rec); err != nil {
			return err
		}
	}
	output, err := results.NewWriter(j.Out, j.Input, info.Width, info.Height, info.FPS, frames, j.Resume != nil)
	if err != nil {
		return err
	}
	defer output.Close()
	output.PTS = src.PTS
	if j.Resume != nil {
		fmt.Fprintf(e.Stderr, "track: resuming %s after its %d finished result(s); they are tracked again, unwritten, to rebuild the tracker's memory\n", j.Out, output.Skipped())
	}

	fmt.Fprintf(e.Stderr, "track: %s %dx%d %.2f fps, %d frames, %d prompt(s), model %s (%s on %s), mode %s\n",
		filepath.Base(j.Input), info.Width, info.Height, info.FPS, frames, len(list), man.Variant, lm.Choice.Dir, lm.Provider(), j.Mode)
	begin := time.Now()
	passes, total := Plan(first, last, frames, j.Reverse, j.Both)
	var prog *Progress
	if !j.Quiet {
		prog = NewProgress(e.Stderr, "track", total)
	}
	var refused *tracker.PromptError
	if err := tr.Run(ctx, list, passes, func(r *tracker.FrameResult) error {
		prog.Add(1)
		return output.Add(r)
	}); errors.As(err, &refused) {
		return PromptError(refused.Err)
	} else if err != nil {
		// Keep what was tracked before the failure.
		if ferr := output.FinishPartial(); ferr != nil {
			return fmt.Errorf("track: %w (and saving the partial results: %v)", err, ferr)
		}
		return fmt.Errorf("track: %w (results of the %d frames tracked so far are in %s; vidseg track --resume %s continues)", err, output.Tracked(), j.Out, j.Out)
	}
	prog.Done()
	elapsed := time.Since(begin)
	if err := output.Finish(); err != nil {
		return err
	}
	if !j.NoOverlay {
		var oprog *Progress
		if !j.Quiet {
			oprog = NewProgress(e.Stderr, "overlay", frames)
		}
		if err := results.WriteOverlay(ctx, j.Out, j.Input, frames, func() { oprog.Add(1) }); err != nil {
			return fmt.Errorf("%w (the masks, masks.json and tracks.jsonl of all %d frames are in %s)", err, frames, j.Out)
		}
		oprog.Done()
	}

	st := tr.Stats()
	fmt.Fprintf(e.Stdout, "tracked %d object(s) over %d frames in %s (%.2f frames/s)\n",
		len(tr.Objects()), st.Frames, elapsed.Round(time.Millisecond), float64(st.Frames)/elapsed.Seconds())
	fmt.Fprintf(e.Stdout, "present: object score > %g (mode %s)\n", tr.PresenceThreshold(), j.Mode)
	fmt.Fprintf(e.Stdout, "stages: encoder %s, memory attention %s, decoder %s, memory encoder %s, Go %s\n",
		st.Encoder.Round(time.Millisecond), st.MemoryAttention.Round(time.Millisecond), st.Decoder.Round(time.Millisecond),
		st.MemoryEncoder.Round(time.Millisecond), st.GoWork().Round(time.Millisecond))
	outs := []string{results.MasksDir + "/", results.MasksJSON, results.TracksFile}
	if !j.NoOverlay {
		outs = append(outs, results.OverlayMP4)
	}
	fmt.Fprintf(e.Stdout, "wrote %s in %s\n", strings.Join(outs, ", "), j.Out)
	return nil
}
