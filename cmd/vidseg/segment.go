package main

import (
	"context"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/sam"
)

func runSegment(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "segment", "vidseg segment IMAGE_OR_VIDEO --everything --out DIR [--frame N] [flags]",
		`Finds every object on one frame of a video or a still image, as SAM 2's
SAM2AutomaticMaskGenerator does: a grid of clicks (--points-per-side, 32x32 by
default) runs through the mask decoder in batches (--points-per-batch) from one
image encoding; each click's candidate masks are kept by predicted IoU and
stability score and overlapping ones removed by box non-maximum suppression.
The flags are the generator's parameters, with its defaults. Writes, in DIR:
  masks/NNNNN.png  a DAVIS indexed PNG of the frame, pixel value = mask id (masks
                   are drawn largest first, so smaller ones inside stay visible;
                   ids 1..255)
  masks.json       every mask in the generator's order (highest predicted IoU
                   first): COCO RLE "segmentation", area, bbox (x, y, w, h),
                   predicted_iou, stability_score, point_coords, crop_box, and its id

Model: --model > VIDSEG_MODEL > config "model" > ./models/* > the bundled
random-weight fixture (`+sam.FixtureDir+`, with a warning).`,
		`  vidseg segment photo.jpg --everything --out out/photo
  vidseg segment clip.mp4 --frame 30 --everything --points-per-side 16 --out out/clip30`)
	cli.ConfigFlag(fs)
	everything := fs.Bool("everything", false, "segment everything (required: the only mode so far)")
	frame := fs.Int("frame", 0, "frame `N` of a video (0 = first)")
	out := fs.String("out", "", "output `DIR` (required; created if needed; must be empty)")
	overwrite := fs.Bool("overwrite", false, "clear --out DIR of an earlier run's results first")
	params := cli.EverythingFlags(fs)
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "attention", "matmul", "resident")
	verbose := fs.Bool("v", false, "log model details to stderr")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.Usagef("segment needs exactly one IMAGE_OR_VIDEO, got %d (run `vidseg segment --help`)", len(pos))
	}
	if !*everything {
		return cli.Usagef("segment: give --everything (prompted segmentation is `vidseg track`)")
	}
	if *out == "" {
		return cli.Usagef("segment: --out DIR is required")
	}
	if *frame < 0 {
		return cli.Usagef("segment: --frame %d is negative", *frame)
	}
	if err := params.Validate(); err != nil {
		return cli.Usagef("segment: %v", err)
	}
	if _, err := s.Threads(); err != nil {
		return err
	}
	if err := cli.PrepareOut(*out, *overwrite); err != nil {
		return err
	}
	return cli.SegmentEverything(ctx, e, s, cli.SegmentJob{Input: pos[0], Out: *out, Frame: *frame, Params: *params, Verbose: *verbose})
}
