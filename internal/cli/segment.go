package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/video"
)

// SegmentJob is one `vidseg segment --everything` run, its flags checked.
type SegmentJob struct {
	Input, Out string
	Frame      int
	Params     autoseg.Params
	Verbose    bool
}

// EverythingFormat names the layout of segment's masks.json.
const EverythingFormat = "vidseg-everything/1"

// everythingFile is segment's masks.json: the masks as
// SAM2AutomaticMaskGenerator.generate returns them (output_mode coco_rle),
// plus the id each has in the PNG.
type everythingFile struct {
	Format string            `json:"format"`
	Input  string            `json:"input"`
	Frame  int               `json:"frame"`
	Width  int               `json:"width"`
	Height int               `json:"height"`
	Model  string            `json:"model"`
	Params everythingParams  `json:"params"`
	Masks  []everythingMask  `json:"masks"`
	Timing map[string]string `json:"timing"`
}

type everythingParams struct {
	PointsPerSide        int     `json:"points_per_side"`
	PointsPerBatch       int     `json:"points_per_batch"`
	PredIoUThresh        float64 `json:"pred_iou_thresh"`
	StabilityScoreThresh float64 `json:"stability_score_thresh"`
	StabilityScoreOffset float64 `json:"stability_score_offset"`
	MaskThreshold        float64 `json:"mask_threshold"`
	BoxNMSThresh         float64 `json:"box_nms_thresh"`
	CropNLayers          int     `json:"crop_n_layers"`
	MinMaskRegionArea    int     `json:"min_mask_region_area"`
	MultimaskOutput      bool    `json:"multimask_output"`
	UseM2M               bool    `json:"use_m2m"`
}

type everythingMask struct {
	ID             int          `json:"id"` // PNG index
	Segmentation   mask.RLE     `json:"segmentation"`
	Area           int          `json:"area"`
	BBox           [4]int       `json:"bbox"` // x, y, w, h (w = x1-x0 of the inclusive box, as the reference)
	PredictedIoU   float32      `json:"predicted_iou"`
	StabilityScore float32      `json:"stability_score"`
	PointCoords    [][2]float64 `json:"point_coords"`
	CropBox        [4]int       `json:"crop_box"`
}

// ReadFrame decodes frame index of input (a video or a still image) with
// its model-size RGB.
func ReadFrame(ctx context.Context, input string, index, modelSize int) (*video.Frame, error) {
	if err := CheckInput(input); err != nil {
		return nil, err
	}
	dec, err := OpenVideo(ctx, input, decode.Options{ModelSize: modelSize})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	if n := dec.Info().Frames; n > 0 && index >= n {
		return nil, Usagef("--frame %d: %s has frames 0..%d", index, input, n-1)
	}
	f, err := decode.NewSource(dec, index+1, 1).Frame(ctx, index)
	if err != nil {
		return nil, InputErr(fmt.Errorf("%s: frame %d: %w", input, index, err))
	}
	return f, nil
}

// SegmentEverything runs the automatic mask generator on one frame and
// writes DIR/masks/NNNNN.png and DIR/masks.json.
func SegmentEverything(ctx context.Context, e *Env, s *Settings, j SegmentJob) error {
	if err := j.Params.Validate(); err != nil {
		return Usagef("segment: %v", err)
	}
	log := NewLogger(e.Stderr, j.Verbose)
	// The grid runs the mask decoder at one large batch again and again:
	// ONNX Runtime's arena reuses its activations (hundreds of MB a run)
	// where fresh mappings are faulted in each time, which took half the
	// CPU time (docs/benchmarks.md). The arena keeps them resident: a
	// higher peak RSS, for one frame in a short-lived process.
	lm, err := OpenModel(s, e.Stderr, log, func(o *sam.Options) { o.Arena = true })
	if err != nil {
		return err
	}
	defer lm.Close()
	f, err := ReadFrame(ctx, j.Input, j.Frame, lm.Manifest().ImageSize)
	if err != nil {
		return err
	}
	begin := time.Now()
	masks, st, enc, err := autoseg.Segment(ctx, lm.Model, f, j.Params)
	if err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	total := time.Since(begin)
	if err := os.MkdirAll(filepath.Join(j.Out, results.MasksDir), 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	out := everythingFile{Format: EverythingFormat, Input: j.Input, Frame: j.Frame, Width: f.Width, Height: f.Height,
		Model: lm.Name(), Params: paramsRecord(j.Params), Masks: []everythingMask{},
		Timing: map[string]string{"encoder": enc.String(), "decoder": st.Decoder.String(), "post": st.Post.String(), "total": total.String()}}
	for i, m := range masks {
		out.Masks = append(out.Masks, everythingMask{ID: i + 1, Segmentation: m.RLE, Area: m.Area, BBox: m.BBoxXYWH(),
			PredictedIoU: m.PredictedIoU, StabilityScore: m.StabilityScore, PointCoords: [][2]float64{m.Point},
			CropBox: [4]int{0, 0, f.Width, f.Height}})
	}
	labels, drawn, err := LabelMasks(masks, f.Width, f.Height)
	if err != nil {
		return err
	}
	png := filepath.Join(j.Out, results.MasksDir, results.MaskName(j.Frame))
	if err := results.WriteFileAtomic(png, func(w io.Writer) error { return mask.EncodePNG(w, labels, f.Width, f.Height) }); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := results.WriteFileAtomic(filepath.Join(j.Out, results.MasksJSON), func(w io.Writer) error { return WriteJSON(w, out) }); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	fmt.Fprintf(e.Stdout, "found %d mask(s) on frame %d of %s (%d points, %d decoder runs, %d candidates, %d kept before NMS)\n",
		len(masks), j.Frame, filepath.Base(j.Input), st.Points, st.Runs, st.Candidates, st.Kept)
	if drawn < len(masks) {
		fmt.Fprintf(e.Stderr, "segment: the PNG holds masks 1..%d only (255 labels at most); masks.json has all %d\n", drawn, len(masks))
	}
	fmt.Fprintf(e.Stdout, "time: encoder %s, decoder %s, Go post-processing %s, total %s\n",
		enc.Round(time.Millisecond), st.Decoder.Round(time.Millisecond), st.Post.Round(time.Millisecond), total.Round(time.Millisecond))
	fmt.Fprintf(e.Stdout, "wrote %s, %s in %s\n", filepath.Join(results.MasksDir, results.MaskName(j.Frame)), results.MasksJSON, j.Out)
	return nil
}

// LabelMasks draws masks (at most 255) into one label image, mask i having
// index i+1; larger masks are drawn first so that the smaller ones inside
// them stay visible. It returns how many masks it drew.
func LabelMasks(masks []autoseg.Mask, w, h int) ([]byte, int, error) {
	n := min(len(masks), 255)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return masks[b].Area - masks[a].Area })
	labels := make([]byte, w*h)
	for _, i := range order {
		bin, err := masks[i].RLE.Decode()
		if err != nil {
			return nil, 0, fmt.Errorf("segment: mask %d: %w", i+1, err)
		}
		for p, v := range bin {
			if v != 0 {
				labels[p] = byte(i + 1)
			}
		}
	}
	return labels, n, nil
}

func paramsRecord(p autoseg.Params) everythingParams {
	return everythingParams{p.PointsPerSide, p.PointsPerBatch, p.PredIoUThresh, p.StabilityScoreThresh, p.StabilityScoreOffset,
		p.MaskThreshold, p.BoxNMSThresh, p.CropNLayers, p.MinMaskRegionArea, p.MultimaskOutput, p.UseM2M}
}

// EverythingFlags registers the generator's parameters on fs, with the
// reference's defaults, and returns where they land.
func EverythingFlags(fs *Flags) *autoseg.Params {
	p := autoseg.DefaultParams()
	fs.IntVar(&p.PointsPerSide, "points-per-side", p.PointsPerSide, "grid of `N`xN clicks over the frame")
	fs.IntVar(&p.PointsPerBatch, "points-per-batch", p.PointsPerBatch, "clicks per mask decoder run")
	fs.Float64Var(&p.PredIoUThresh, "pred-iou-thresh", p.PredIoUThresh, "keep masks whose predicted IoU is above this (0 = all)")
	fs.Float64Var(&p.StabilityScoreThresh, "stability-score-thresh", p.StabilityScoreThresh, "keep masks whose stability score is at least this (0 = all)")
	fs.Float64Var(&p.StabilityScoreOffset, "stability-score-offset", p.StabilityScoreOffset, "logit offset of the stability score")
	fs.Float64Var(&p.MaskThreshold, "mask-threshold", p.MaskThreshold, "logit threshold of a mask pixel")
	fs.Float64Var(&p.BoxNMSThresh, "box-nms-thresh", p.BoxNMSThresh, "drop a mask whose box overlaps a better one's by more than this IoU")
	fs.IntVar(&p.CropNLayers, "crop-n-layers", p.CropNLayers, "crop layers (only 0 is supported)")
	fs.IntVar(&p.MinMaskRegionArea, "min-mask-region-area", p.MinMaskRegionArea, "fill holes and drop islands of up to `N` low-res pixels (0 = off)")
	fs.BoolVar(&p.MultimaskOutput, "multimask-output", p.MultimaskOutput, "keep the 3 candidate masks of each click (false: one, chosen by stability)")
	fs.BoolVar(&p.UseM2M, "use-m2m", p.UseM2M, "refine each mask once with itself as the mask prompt")
	return &p
}
