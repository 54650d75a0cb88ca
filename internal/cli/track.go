package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// TrackJob is one `vidseg track` run, its flags checked.
type TrackJob struct {
	Input, Out string
	Prompts    *prompt.Set
	Resume     *RunRecord // the run to continue, or nil
	Mode       tracker.Mode
	Limit      int // frames; 0 = all

	Reverse, Both, BothEnds, NonOverlap, NoOverlay, Quiet, Verbose bool

	// Everything, when set, segments everything on frame EverythingFrame
	// (autoseg) and tracks each mask found as its own object, at most
	// MaxObjects of them; Prompts is then empty.
	Everything      *autoseg.Params
	EverythingFrame int
	MaxObjects      int
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
	if j.Everything != nil && j.Resume == nil {
		if j.EverythingFrame >= frames {
			return Usagef("track: --frame %d but only frames 0..%d are tracked", j.EverythingFrame, frames-1)
		}
		if list, err = everythingPrompts(ctx, e, lm, j); err != nil {
			return err
		}
	}

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

	src := &damageSource{Source: decode.NewSource(dec, frames, 4), cut: -1}
	cfg := tracker.FilePreset(j.Mode)
	tune, err := TrackerSettings(s)
	if err != nil {
		return err
	}
	tune(&cfg)
	cfg.NonOverlap, cfg.NumFrames, cfg.Source, cfg.Logger = j.NonOverlap, frames, src, log
	// A backward pass after a forward one reads memory of frames the
	// forward pass made, as the reference does: keep them.
	cfg.KeepAll = j.Both || j.BothEnds
	tr, err := tracker.New(lm.Model, cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	if j.Resume != nil && j.Resume.Model != lm.Name() {
		return ModelErr(fmt.Errorf("track --resume %s: the run was started with model %s, not %s: its masks would not belong with the new ones", j.Out, j.Resume.Model, lm.Name()))
	}
	if j.Resume == nil {
		abs, err := filepath.Abs(j.Input)
		if err != nil || strings.Contains(j.Input, "://") {
			abs = j.Input
		}
		rec := &RunRecord{Input: abs, Limit: j.Limit, Mode: j.Mode.String(), Model: lm.Name(),
			Reverse: j.Reverse, Both: j.Both, BothEnds: j.BothEnds, NonOverlap: j.NonOverlap, NoOverlay: j.NoOverlay, Present: tr.PresenceThreshold(), Prompts: list,
			FillHoles: &cfg.FillHoleArea}
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
	passes, total := Plan(first, last, frames, j.Reverse, j.Both, j.BothEnds)
	var prog *Progress
	if !j.Quiet {
		prog = NewProgress(e.Stderr, "track", total)
	}
	var refused *tracker.PromptError
	damage, err := runPasses(ctx, tr, src, list, passes, func(r *tracker.FrameResult) error {
		prog.Add(1)
		return output.Add(r)
	})
	if errors.As(err, &refused) {
		if isDamage(refused.Err) {
			return InputErr(fmt.Errorf("track: a prompt's frame cannot be decoded: %w", refused.Err))
		}
		return PromptError(refused.Err)
	} else if err != nil {
		// Keep what was tracked before the failure.
		if ferr := output.FinishPartial(); ferr != nil {
			return fmt.Errorf("track: %w (and saving the partial results: %v)", err, ferr)
		}
		if isDamage(err) && ctx.Err() == nil {
			// A resume would stop at the same place: say what does help.
			return InputErr(fmt.Errorf("track: %s is truncated or damaged: %w (results of the %d frames tracked so far are in %s; --frames or prompts before the damage avoid it)", j.Input, err, output.Tracked(), j.Out))
		}
		return fmt.Errorf("track: %w (results of the %d frames tracked so far are in %s; vidseg track --resume %s continues)", err, output.Tracked(), j.Out, j.Out)
	}
	prog.Done()
	elapsed := time.Since(begin)
	if damage != nil {
		// The frames before the damage are all there is: finish their
		// results as a complete run (a resume would only fail the same way).
		frames = src.cut
		output.Truncate(frames)
	}
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
	outs := []string{results.MasksDir + "/", results.MasksJSON, results.TracksFile}
	if !j.NoOverlay {
		outs = append(outs, results.OverlayMP4)
	}
	if damage != nil {
		return InputErr(fmt.Errorf("track: %s is truncated or damaged: frame %d and later cannot be decoded (%w); "+
			"the results of its %d decodable frames are complete in %s (%s)", j.Input, frames, damage, frames, j.Out, strings.Join(outs, ", ")))
	}

	st := tr.Stats()
	steps, unit := "", "frames/s"
	if st.Frames != frames {
		// --both and --both-ends track some frames twice; a pass may not reach every frame.
		steps, unit = fmt.Sprintf(" (%d frame steps)", st.Frames), "frame steps/s"
	}
	fmt.Fprintf(e.Stdout, "tracked %d object(s) over %d frames%s in %s (%.2f %s)\n",
		len(tr.Objects()), frames, steps, elapsed.Round(time.Millisecond), float64(st.Frames)/elapsed.Seconds(), unit)
	fmt.Fprintf(e.Stdout, "present: object score > %g (mode %s)\n", tr.PresenceThreshold(), j.Mode)
	fmt.Fprintf(e.Stdout, "stages: encoder %s, memory attention %s, decoder %s, memory encoder %s, Go %s\n",
		st.Encoder.Round(time.Millisecond), st.MemoryAttention.Round(time.Millisecond), st.Decoder.Round(time.Millisecond),
		st.MemoryEncoder.Round(time.Millisecond), st.GoWork().Round(time.Millisecond))
	fmt.Fprintf(e.Stdout, "wrote %s in %s\n", strings.Join(outs, ", "), j.Out)
	return nil
}

// damageSource is the tracker's frame source, remembering the first frame
// that could not be decoded because the input is truncated or damaged.
type damageSource struct {
	*decode.Source
	cut int // -1: none yet
}

func (s *damageSource) Frame(ctx context.Context, index int) (*video.Frame, error) {
	f, err := s.Source.Frame(ctx, index)
	if err != nil && isDamage(err) && (s.cut < 0 || index < s.cut) {
		s.cut = index
	}
	return f, err
}

// isDamage tells a truncated or damaged input from other failures.
func isDamage(err error) bool {
	return errors.Is(err, decode.ErrTruncated) || errors.Is(err, decode.ErrCorrupt)
}

// runPasses gives the tracker the prompts, then runs the passes, as
// tracker.Run does, except that a forward pass that reaches the damaged
// end of a truncated input ends there and the next passes still run:
// damage is that pass's error. Any other error ends the run.
func runPasses(ctx context.Context, tr *tracker.Tracker, src *damageSource, prompts []prompt.Prompt, passes []tracker.PropagateOptions, fn func(*tracker.FrameResult) error) (damage, err error) {
	for _, p := range prompts {
		if _, err := tr.Prompt(ctx, p); err != nil {
			return nil, &tracker.PromptError{Err: err}
		}
	}
	for _, ps := range passes {
		if ps.Reverse && ps.Start == 0 {
			continue
		}
		if src.cut >= 0 && ps.Start >= src.cut {
			continue // a backward pass from beyond the damage: its prompt failed already
		}
		err := tr.Propagate(ctx, ps, fn)
		switch {
		case err == nil:
		case !ps.Reverse && isDamage(err) && src.cut > ps.Start && ctx.Err() == nil:
			damage = err
		default:
			return damage, err
		}
	}
	return damage, nil
}

// everythingPrompts segments everything on frame j.EverythingFrame and
// returns one mask prompt per mask found (object ids 1.. in the
// generator's order, best predicted IoU first), at most j.MaxObjects.
func everythingPrompts(ctx context.Context, e *Env, lm *Model, j TrackJob) ([]prompt.Prompt, error) {
	f, err := ReadFrame(ctx, j.Input, j.EverythingFrame, lm.Manifest().ImageSize)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	masks, st, _, err := autoseg.Segment(ctx, lm.Model, f, *j.Everything)
	if err != nil {
		return nil, fmt.Errorf("track --everything: %w", err)
	}
	if len(masks) == 0 {
		return nil, PromptError(fmt.Errorf("track --everything: no mask found on frame %d (%d points, %d candidates, none passed the filters; lower --pred-iou-thresh or --stability-score-thresh)",
			j.EverythingFrame, st.Points, st.Candidates))
	}
	fmt.Fprintf(e.Stderr, "track: segment everything found %d mask(s) on frame %d in %s\n", len(masks), j.EverythingFrame, time.Since(begin).Round(time.Millisecond))
	if len(masks) > j.MaxObjects {
		fmt.Fprintf(e.Stderr, "track: found %d masks, more than --max-objects %d: tracking the %d with the highest predicted IoU (raise --max-objects to track more)\n",
			len(masks), j.MaxObjects, j.MaxObjects)
		masks = masks[:j.MaxObjects]
	}
	list := make([]prompt.Prompt, len(masks))
	for i := range masks {
		rle := masks[i].RLE
		list[i] = prompt.Prompt{Frame: j.EverythingFrame, Object: i + 1, Mask: &rle}
	}
	return list, nil
}
