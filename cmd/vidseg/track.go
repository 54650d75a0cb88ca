package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
)

func runTrack(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "track", "vidseg track INPUT --point X,Y | --box X0,Y0,X1,Y1 | --mask FILE ... --out DIR [flags]",
		`Segments and tracks the prompted objects through a video file and writes, in DIR:
  masks/00000.png  one DAVIS indexed PNG per frame, pixel value = object id
  masks.json       COCO RLE of every object on every frame (pycocotools-compatible)
  tracks.jsonl     one line per frame: source timestamp (pts, seconds), each object's box,
                   predicted IoU, object score, presence (score > 0 in sam2 mode, > the
                   manifest's min_obj_score_logits, -1, in samurai mode; the run prints it)
  overlay.mp4      the video with the masks blended in object colors (H.264)
  run.json, masks.jsonl  the run's prompts and settings, and each finished frame's masks
                   as it finishes: a killed run keeps them; --resume DIR continues it
DIR/masks works with `+"`vidseg eval`"+`. DIR must be empty (or --overwrite).

`+prompt.Help+`

Propagation starts at the earliest prompted frame and runs forward; --reverse
runs backward from the latest prompted frame instead, --both runs forward and
then backward from the earliest prompted frame (covering the whole video).

Model: --model > VIDSEG_MODEL > config "model" > ./models/* > the bundled
random-weight fixture (`+sam.FixtureDir+`, with a warning). To get a real
model, export an official checkpoint once:
  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t \
      --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t`,
		`  vidseg track clip.mp4 --point 320,240 --out out/clip
  vidseg track clip.mp4 --box 100,80,300,260 --point 150,120,neg --out out/clip
  vidseg track clip.mp4 --point 320,240@0#1 --point 600,200@30#2 --both --out out/clip
  vidseg track clip.mp4 --mask clip/masks/00000.png --mode sam2 --frames 50 --out out/clip`)
	cli.ConfigFlag(fs)
	var points, boxes, masks cli.List
	fs.Var(&points, "point", "click `X,Y[,LABEL][@FRAME][#OBJECT]` (repeatable)")
	fs.Var(&boxes, "box", "box `X0,Y0,X1,Y1[@FRAME][#OBJECT]` (repeatable)")
	fs.Var(&masks, "mask", "mask prompt `FILE.png[@FRAME][#OBJECT]` (repeatable)")
	out := fs.String("out", "", "output `DIR` (required; created if needed; must be empty)")
	overwrite := fs.Bool("overwrite", false, "clear --out DIR of an earlier run's results first")
	resumeDir := fs.String("resume", "", "continue the interrupted run in `DIR` (prompts and settings come from DIR/run.json)")
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "mode")
	limit := fs.Int("frames", 0, "track at most the first `N` frames of the video (0 = all)")
	reverse := fs.Bool("reverse", false, "propagate backward from the latest prompted frame")
	both := fs.Bool("both", false, "propagate forward, then backward from the earliest prompted frame")
	nonOverlap := fs.Bool("non-overlap", false, "at each pixel keep only the highest-scoring object")
	noOverlay := fs.Bool("no-overlay", false, "skip overlay.mp4")
	quiet := fs.Bool("quiet", false, "no progress output")
	verbose := fs.Bool("v", false, "log model and tracker details to stderr")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}

	var run *runRecord
	if *resumeDir != "" {
		if len(pos) != 0 || len(points)+len(boxes)+len(masks) != 0 || *out != "" {
			return cli.Usagef("track --resume DIR takes its input, prompts and --out from DIR/run.json: give none of them")
		}
		if run, err = loadRun(*resumeDir); err != nil {
			return err
		}
		if m, _ := tracker.ParseMode(s.Get("mode")); s.Source("mode") != "default" && m.String() != run.Mode {
			return cli.Usagef("track --resume %s: the run was started in mode %s, not %s", *resumeDir, run.Mode, m)
		}
		pos, *out = []string{run.Input}, *resumeDir
		s.Set("mode", run.Mode, results.RunFile)
		*limit, *reverse, *both, *nonOverlap, *noOverlay = run.Limit, run.Reverse, run.Both, run.NonOverlap, run.NoOverlay
	}
	if len(pos) != 1 {
		return cli.Usagef("track needs exactly one INPUT video, got %d (run `vidseg track --help`)", len(pos))
	}
	input := pos[0]
	if *out == "" {
		return cli.Usagef("track: --out DIR is required")
	}
	if run == nil {
		if err := prepareOut(*out, *overwrite); err != nil {
			return err
		}
	}
	if *reverse && *both {
		return cli.Usagef("track: --reverse and --both exclude each other")
	}
	if *limit < 0 {
		return cli.Usagef("track: --frames %d is negative", *limit)
	}
	mode, err := tracker.ParseMode(s.Get("mode"))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if _, err := s.Threads(); err != nil {
		return err
	}
	prompts := prompt.NewSet()
	for _, add := range []struct {
		args cli.List
		add  func(string) error
	}{{points, prompts.AddPoint}, {boxes, prompts.AddBox}, {masks, prompts.AddMask}} {
		for _, a := range add.args {
			if err := add.add(a); err != nil {
				return promptSyntaxErr(err)
			}
		}
	}
	if run == nil && prompts.Empty() {
		return cli.Usagef("track: give at least one --point, --box or --mask (run `vidseg track --help`)")
	}
	if err := checkInput(input); err != nil {
		return err
	}
	// Probe the input (and check the prompts against its size) before the
	// model loads, which takes seconds: a bad input is reported at once.
	frames, list, err := probeInput(ctx, input, prompts, *limit, e.Stderr)
	if err != nil {
		return err
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	lm, err := openModel(s, e.Stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	man := lm.model.Manifest()

	dec, err := openVideo(ctx, input, decode.Options{ModelSize: man.ImageSize})
	if err != nil {
		return err
	}
	defer dec.Close()
	info := dec.Info()
	if info.Live {
		return cli.Usagef("track: %s is a live source; track works on files (use `vidseg serve` for streams)", input)
	}
	if run != nil {
		// The recorded prompts were checked when the run began.
		list = run.Prompts
		if len(list) == 0 {
			return cli.InputErr(fmt.Errorf("track --resume %s: %s records no prompt", *out, results.RunFile))
		}
	}
	first, last := list[0].Frame, list[0].Frame
	for _, p := range list {
		first, last = min(first, p.Frame), max(last, p.Frame)
	}

	src := decode.NewSource(dec, frames, 4)
	cfg := tracker.FilePreset(mode)
	cfg.NonOverlap, cfg.NumFrames, cfg.Source, cfg.Logger = *nonOverlap, frames, src, log
	// A backward pass after a forward one reads memory of frames the
	// forward pass made, as the reference does: keep them.
	cfg.KeepAll = *both
	tr, err := tracker.New(lm.model, cfg)
	if err != nil {
		return err
	}
	if run != nil && run.Model != lm.name() {
		return cli.ModelErr(fmt.Errorf("track --resume %s: the run was started with model %s, not %s: its masks would not belong with the new ones", *out, run.Model, lm.name()))
	}
	if run == nil {
		abs, err := filepath.Abs(input)
		if err != nil || strings.Contains(input, "://") {
			abs = input
		}
		rec := &runRecord{Input: abs, Limit: *limit, Mode: mode.String(), Model: lm.name(),
			Reverse: *reverse, Both: *both, NonOverlap: *nonOverlap, NoOverlay: *noOverlay, Present: tr.PresenceThreshold(), Prompts: list}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		if err := saveRun(*out, rec); err != nil {
			return err
		}
	}
	output, err := results.NewWriter(*out, input, info.Width, info.Height, info.FPS, frames, run != nil)
	if err != nil {
		return err
	}
	defer output.Close()
	output.PTS = src.PTS
	if run != nil {
		fmt.Fprintf(e.Stderr, "track: resuming %s after its %d finished result(s); they are tracked again, unwritten, to rebuild the tracker's memory\n", *out, output.Skipped())
	}

	fmt.Fprintf(e.Stderr, "track: %s %dx%d %.2f fps, %d frames, %d prompt(s), model %s (%s on %s), mode %s\n",
		filepath.Base(input), info.Width, info.Height, info.FPS, frames, len(list), man.Variant, lm.choice.Dir, lm.model.Provider(), mode)
	begin := time.Now()
	passes, total := plan(first, last, frames, *reverse, *both)
	var prog *cli.Progress
	if !*quiet {
		prog = cli.NewProgress(e.Stderr, "track", total)
	}
	var refused *tracker.PromptError
	if err := tr.Run(ctx, list, passes, func(r *tracker.FrameResult) error {
		prog.Add(1)
		return output.Add(r)
	}); errors.As(err, &refused) {
		return promptError(refused.Err)
	} else if err != nil {
		// Keep what was tracked before the failure.
		if ferr := output.FinishPartial(); ferr != nil {
			return fmt.Errorf("track: %w (and saving the partial results: %v)", err, ferr)
		}
		return fmt.Errorf("track: %w (results of the %d frames tracked so far are in %s; vidseg track --resume %s continues)", err, output.Tracked(), *out, *out)
	}
	prog.Done()
	elapsed := time.Since(begin)
	if err := output.Finish(); err != nil {
		return err
	}
	if !*noOverlay {
		var oprog *cli.Progress
		if !*quiet {
			oprog = cli.NewProgress(e.Stderr, "overlay", frames)
		}
		if err := results.WriteOverlay(ctx, *out, input, frames, func() { oprog.Add(1) }); err != nil {
			return fmt.Errorf("%w (the masks, masks.json and tracks.jsonl of all %d frames are in %s)", err, frames, *out)
		}
		oprog.Done()
	}

	st := tr.Stats()
	fmt.Fprintf(e.Stdout, "tracked %d object(s) over %d frames in %s (%.2f frames/s)\n",
		len(tr.Objects()), st.Frames, elapsed.Round(time.Millisecond), float64(st.Frames)/elapsed.Seconds())
	fmt.Fprintf(e.Stdout, "present: object score > %g (mode %s)\n", tr.PresenceThreshold(), mode)
	fmt.Fprintf(e.Stdout, "stages: encoder %s, memory attention %s, decoder %s, memory encoder %s, Go %s\n",
		st.Encoder.Round(time.Millisecond), st.MemoryAttention.Round(time.Millisecond), st.Decoder.Round(time.Millisecond),
		st.MemoryEncoder.Round(time.Millisecond), st.GoWork().Round(time.Millisecond))
	outs := []string{results.MasksDir + "/", results.MasksJSON, results.TracksFile}
	if !*noOverlay {
		outs = append(outs, results.OverlayMP4)
	}
	fmt.Fprintf(e.Stdout, "wrote %s in %s\n", strings.Join(outs, ", "), *out)
	return nil
}

// checkInput fails early, with exit code 3, on a local file that is not
// there or not readable. URLs are left to FFmpeg.
func checkInput(input string) error {
	if strings.Contains(input, "://") {
		return nil
	}
	f, err := os.Open(input)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return cli.InputErr(fmt.Errorf("input %s: no such file", input))
		}
		return cli.InputErr(fmt.Errorf("input: %w", err))
	}
	fi, err := f.Stat()
	f.Close()
	if err == nil && fi.IsDir() {
		return cli.InputErr(fmt.Errorf("input %s is a directory, not a video file", input))
	}
	return nil
}

// probeInput opens the input and decodes its first frame, so that an
// unreadable or unsupported input, or a prompt outside its frames, is
// reported before the model loads.
// It returns how many frames will be tracked and the prompts, checked
// against the video's (displayed) size and those frames.
func probeInput(ctx context.Context, input string, prompts *prompt.Set, limit int, warn io.Writer) (int, []prompt.Prompt, error) {
	dec, err := openVideo(ctx, input, decode.Options{})
	if err != nil {
		return 0, nil, err
	}
	defer dec.Close()
	info := dec.Info()
	if info.Live {
		return 0, nil, cli.Usagef("track: %s is a live source; track works on files (use `vidseg serve` for streams)", input)
	}
	frames := info.Frames
	if frames <= 0 {
		return 0, nil, cli.InputErr(fmt.Errorf("track: %s: the number of frames is unknown", input))
	}
	if limit > 0 {
		frames = min(frames, limit)
	}
	list, err := prompts.Resolve(info.Width, info.Height)
	if err != nil {
		return 0, nil, promptSyntaxErr(err)
	}
	w, h := float32(info.Width), float32(info.Height)
	for i := range list {
		if err := clipBox(&list[i], info.Width, info.Height, warn); err != nil {
			return 0, nil, err
		}
	}
	warnNegativeOnly(list, warn)
	for _, p := range list {
		if p.Frame >= frames {
			return 0, nil, cli.Usagef("track: a prompt is on frame %d but only frames 0..%d are tracked", p.Frame, frames-1)
		}
		for _, pt := range p.Points { // the tracker's rule, checked before the model loads
			if pt.X < 0 || pt.Y < 0 || pt.X >= w || pt.Y >= h {
				return 0, nil, cli.Usagef("track: object %d frame %d: point (%g,%g) outside the %dx%d frame", p.Object, p.Frame, pt.X, pt.Y, info.Width, info.Height)
			}
		}
	}
	f, err := dec.Next(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, err
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("decode: %w: %s: no frame could be decoded", decode.ErrCorrupt, input)
		}
		return 0, nil, cli.InputErr(fmt.Errorf("track: %w", err))
	}
	f.Release()
	return frames, list, nil
}

// openVideo opens input, mapping "the input is bad" errors to exit code 3.
func openVideo(ctx context.Context, input string, opts decode.Options) (*decode.Decoder, error) {
	dec, err := decode.Open(ctx, input, opts)
	if err == nil {
		return dec, nil
	}
	for _, bad := range []error{decode.ErrNotFound, decode.ErrNotVideo, decode.ErrUnsupportedCodec,
		decode.ErrTruncated, decode.ErrCorrupt, decode.ErrUnreachable, decode.ErrNotSeekable} {
		if errors.Is(err, bad) {
			return nil, cli.InputErr(err)
		}
	}
	return nil, err
}

// plan lays out the passes over frames 0..frames-1 for prompts on frames
// first..last, and how many frame results they deliver.
func plan(first, last, frames int, reverse, both bool) (passes []tracker.PropagateOptions, total int) {
	switch {
	case reverse:
		return []tracker.PropagateOptions{{Start: last, Reverse: true}}, last + 1
	case both:
		total = frames
		if first > 0 {
			total = frames + 1 // the backward pass revisits its start frame
		}
		return []tracker.PropagateOptions{{Start: first}, {Start: first, Reverse: true}}, total
	}
	return []tracker.PropagateOptions{{Start: first}}, frames - first
}

// promptError marks prompts the tracker refused as usage errors.
func promptError(err error) error {
	for _, bad := range []error{tracker.ErrPromptOutside, tracker.ErrEmptyPrompt, tracker.ErrFrameRange, tracker.ErrUnknownObject} {
		if errors.Is(err, bad) {
			return cli.Usagef("%v", err)
		}
	}
	return err
}

// promptSyntaxErr maps the prompt package's errors to exit codes: a mask
// file that cannot be read is an input error, anything else a usage error.
func promptSyntaxErr(err error) error {
	if errors.As(err, new(*prompt.FileError)) {
		return cli.InputErr(err)
	}
	return cli.WithCode(cli.ExitUsage, err)
}

// clipBox clips a box dragged past the frame's edges to the frame (users
// drag boxes past edges); only a box with nothing inside is refused.
func clipBox(p *prompt.Prompt, width, height int, warn io.Writer) error {
	b := p.Box
	if b == nil {
		return nil
	}
	w, h := float32(width), float32(height)
	c := mask.Box{X0: max(b.X0, 0), Y0: max(b.Y0, 0), X1: min(b.X1, w), Y1: min(b.Y1, h)}
	if c.X1 <= c.X0 || c.Y1 <= c.Y0 {
		return cli.Usagef("track: object %d frame %d: box (%g,%g)-(%g,%g) is entirely outside the %dx%d frame", p.Object, p.Frame, b.X0, b.Y0, b.X1, b.Y1, width, height)
	}
	if c != *b {
		fmt.Fprintf(warn, "vidseg: object %d frame %d: box (%g,%g)-(%g,%g) clipped to the %dx%d frame: (%g,%g)-(%g,%g)\n",
			p.Object, p.Frame, b.X0, b.Y0, b.X1, b.Y1, width, height, c.X0, c.Y0, c.X1, c.Y1)
		p.Box = &c
	}
	return nil
}

// warnNegativeOnly warns about an object whose first prompt is only
// negative clicks: the model segments something anyway, seldom what the
// user meant.
func warnNegativeOnly(list []prompt.Prompt, warn io.Writer) {
	seen := map[int]bool{}
	for _, p := range list { // frame order
		if seen[p.Object] {
			continue
		}
		seen[p.Object] = true
		if p.Box != nil || p.Mask != nil || len(p.Points) == 0 {
			continue
		}
		positive := false
		for _, pt := range p.Points {
			positive = positive || pt.Positive
		}
		if !positive {
			fmt.Fprintf(warn, "vidseg: warning: object %d starts on frame %d with only negative clicks: the model will segment something anyway; add a positive click or a box\n", p.Object, p.Frame)
		}
	}
}
