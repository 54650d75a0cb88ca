package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/internal/cli"
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

--everything segments everything on --frame N (0 by default) as `+"`vidseg segment --everything`"+`
does (the --points-per-side ... --use-m2m flags are the generator's) and tracks every mask
found as its own object (a mask prompt; ids 1.. best predicted IoU first), at most
--max-objects (32) of them; it says so when more were found.

Propagation starts at the earliest prompted frame and runs forward; --reverse
runs backward from the latest prompted frame instead, --both runs forward and
then backward from the earliest prompted frame (covering the whole video),
--both-ends runs forward from the earliest and then backward from the latest
prompted frame (the frames between get the backward pass's masks). Frames no
pass reaches get an empty PNG and an "unreached" record.

A truncated or damaged input is tracked up to the damage: the results of the
frames that decode are finished (overlay included) and the run exits 3.

Model: --model > VIDSEG_MODEL > config "model" > ./models/* > the bundled
random-weight fixture (`+sam.FixtureDir+`, with a warning). To get a real
model, export an official checkpoint once:
  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t \
      --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t`,
		`  vidseg track clip.mp4 --point 320,240 --out out/clip
  vidseg track clip.mp4 --box 100,80,300,260 --point 150,120,neg --out out/clip
  vidseg track clip.mp4 --point 320,240@0#1 --point 600,200@30#2 --both --out out/clip
  vidseg track clip.mp4 --mask clip/masks/00000.png --mode sam2 --frames 50 --out out/clip
  vidseg track clip.mp4 --everything --both --max-objects 16 --out out/clip`)
	cli.ConfigFlag(fs)
	var points, boxes, masks cli.List
	fs.Var(&points, "point", "click `X,Y[,LABEL][@FRAME][#OBJECT]` (repeatable)")
	fs.Var(&boxes, "box", "box `X0,Y0,X1,Y1[@FRAME][#OBJECT]` (repeatable)")
	fs.Var(&masks, "mask", "mask prompt `FILE.png[@FRAME][#OBJECT]` (repeatable)")
	out := fs.String("out", "", "output `DIR` (required; created if needed; must be empty)")
	overwrite := fs.Bool("overwrite", false, "clear --out DIR of an earlier run's results first")
	resumeDir := fs.String("resume", "", "continue the interrupted run in `DIR` (prompts and settings come from DIR/run.json)")
	// corrections_as_cond does not apply: track gives every prompt before
	// the first pass, so none corrects a tracked frame.
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "attention", "matmul", "resident", "mode", "fill_holes")
	limit := fs.Int("frames", 0, "track at most the first `N` frames of the video (0 = all)")
	reverse := fs.Bool("reverse", false, "propagate backward from the latest prompted frame")
	both := fs.Bool("both", false, "propagate forward, then backward from the earliest prompted frame")
	bothEnds := fs.Bool("both-ends", false, "propagate forward from the earliest prompted frame, then backward from the latest")
	nonOverlap := fs.Bool("non-overlap", false, "at each pixel keep only the highest-scoring object")
	noOverlay := fs.Bool("no-overlay", false, "skip overlay.mp4")
	everything := fs.Bool("everything", false, "segment everything on --frame (as `vidseg segment --everything`) and track every mask as its own object")
	everyFrame := fs.Int("frame", 0, "with --everything: the frame `N` to segment")
	maxObjects := fs.Int("max-objects", 32, "with --everything: track at most `N` masks (the best by predicted IoU)")
	params := cli.EverythingFlags(fs)
	quiet := fs.Bool("quiet", false, "no progress output")
	verbose := fs.Bool("v", false, "log model and tracker details to stderr")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}

	var run *cli.RunRecord
	if *resumeDir != "" {
		if len(pos) != 0 || len(points)+len(boxes)+len(masks) != 0 || *out != "" {
			return cli.Usagef("track --resume DIR takes its input, prompts and --out from DIR/run.json: give none of them")
		}
		if run, err = cli.LoadRun(*resumeDir); err != nil {
			return err
		}
		if m, _ := tracker.ParseMode(s.Get("mode")); s.Source("mode") != "default" && m.String() != run.Mode {
			return cli.Usagef("track --resume %s: the run was started in mode %s, not %s", *resumeDir, run.Mode, m)
		}
		fill := "0" // a run recorded before hole filling existed had none
		if run.FillHoles != nil {
			fill = strconv.Itoa(*run.FillHoles)
		}
		if s.Source("fill_holes") != "default" && strings.TrimSpace(s.Get("fill_holes")) != fill {
			return cli.Usagef("track --resume %s: the run was started with --fill-holes %s, not %s", *resumeDir, fill, s.Get("fill_holes"))
		}
		pos, *out = []string{run.Input}, *resumeDir
		s.Set("mode", run.Mode, results.RunFile)
		s.Set("fill_holes", fill, results.RunFile)
		*limit, *reverse, *both, *bothEnds, *nonOverlap, *noOverlay = run.Limit, run.Reverse, run.Both, run.BothEnds, run.NonOverlap, run.NoOverlay
	}
	if len(pos) != 1 {
		return cli.Usagef("track needs exactly one INPUT video, got %d (run `vidseg track --help`)", len(pos))
	}
	input := pos[0]
	if *out == "" {
		return cli.Usagef("track: --out DIR is required")
	}
	if run == nil {
		if err := cli.PrepareOut(*out, *overwrite); err != nil {
			return err
		}
	}
	if n := btoi(*reverse) + btoi(*both) + btoi(*bothEnds); n > 1 {
		return cli.Usagef("track: --reverse, --both and --both-ends exclude each other")
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
	if _, err := cli.TrackerSettings(s); err != nil {
		return err
	}
	prompts := prompt.NewSet()
	for _, add := range []struct {
		args cli.List
		add  func(string) error
	}{{points, prompts.AddPoint}, {boxes, prompts.AddBox}, {masks, prompts.AddMask}} {
		for _, a := range add.args {
			if err := add.add(a); err != nil {
				return cli.PromptSyntaxErr(err)
			}
		}
	}
	job := cli.TrackJob{Input: input, Out: *out, Prompts: prompts, Resume: run, Mode: mode, Limit: *limit,
		Reverse: *reverse, Both: *both, BothEnds: *bothEnds, NonOverlap: *nonOverlap, NoOverlay: *noOverlay, Quiet: *quiet, Verbose: *verbose}
	if *everything {
		if run != nil {
			return cli.Usagef("track --resume takes the masks found when the run began: drop --everything")
		}
		if !prompts.Empty() {
			return cli.Usagef("track --everything finds the objects itself: give no --point, --box or --mask")
		}
		if *everyFrame < 0 {
			return cli.Usagef("track: --frame %d is negative", *everyFrame)
		}
		if *maxObjects < 1 || *maxObjects > 255 {
			return cli.Usagef("track: --max-objects %d: want 1..255 (a DAVIS PNG holds 255 objects)", *maxObjects)
		}
		if err := params.Validate(); err != nil {
			return cli.Usagef("track: %v", err)
		}
		job.Everything, job.EverythingFrame, job.MaxObjects = params, *everyFrame, *maxObjects
		return cli.Track(ctx, e, s, job)
	}
	if run == nil && prompts.Empty() {
		return cli.Usagef("track: give at least one --point, --box or --mask, or --everything (run `vidseg track --help`)")
	}
	return cli.Track(ctx, e, s, job)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
