package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
)

// The generator's flags at values the random-weight fixture passes (its
// masks are large blobs with predicted IoUs near 0.5; see
// tools/export/make_amg_reference.sh), on a small grid.
var fixtureEverything = []string{"--points-per-side", "4", "--pred-iou-thresh", "0.5",
	"--stability-score-offset", "0.02", "--stability-score-thresh", "0.6", "--box-nms-thresh", "1"}

func TestSegmentEverything(t *testing.T) {
	model := testutil.SmallModel(t)
	clip := testutil.Clip(t, "moving_shape")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("runs the model (needs the ONNX Runtime library; not in -short)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, []string{"VIDSEG_MODEL=" + model},
		append([]string{"segment", clip, "--everything", "--frame", "2", "--out", out}, fixtureEverything...)...)
	expect(t, r, 0, "")
	var doc struct {
		Format string `json:"format"`
		Frame  int    `json:"frame"`
		Params struct {
			PointsPerSide  int `json:"points_per_side"`
			PointsPerBatch int `json:"points_per_batch"`
		} `json:"params"`
		Masks []struct {
			ID             int          `json:"id"`
			Segmentation   mask.RLE     `json:"segmentation"`
			Area           int          `json:"area"`
			BBox           [4]int       `json:"bbox"`
			PredictedIoU   float64      `json:"predicted_iou"`
			StabilityScore float64      `json:"stability_score"`
			PointCoords    [][2]float64 `json:"point_coords"`
		} `json:"masks"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "masks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != "vidseg-everything/1" || doc.Frame != 2 || doc.Params.PointsPerSide != 4 || doc.Params.PointsPerBatch != 64 {
		t.Errorf("masks.json header: %+v", doc)
	}
	if len(doc.Masks) == 0 {
		t.Fatalf("no masks found\n%s", r.stdout)
	}
	for i, m := range doc.Masks {
		if m.ID != i+1 || m.Segmentation.Width != 320 || m.Segmentation.Height != 240 || m.Area != m.Segmentation.Area() ||
			m.PredictedIoU <= 0.5 || m.StabilityScore < 0.6 || len(m.PointCoords) != 1 {
			t.Errorf("mask %d: id %d area %d predicted IoU %g stability %g", i, m.ID, m.Area, m.PredictedIoU, m.StabilityScore)
		}
		if i > 0 && m.PredictedIoU > doc.Masks[i-1].PredictedIoU {
			t.Errorf("mask %d has a higher predicted IoU than mask %d: not in NMS order", i+1, i)
		}
	}
	labels, w, h, err := mask.ReadPNG(filepath.Join(out, "masks", "00002.png"))
	if err != nil {
		t.Fatal(err)
	}
	if w != 320 || h != 240 {
		t.Fatalf("PNG is %dx%d", w, h)
	}
	for _, v := range labels {
		if int(v) > len(doc.Masks) {
			t.Fatalf("PNG has label %d but masks.json %d masks", v, len(doc.Masks))
		}
	}
	if !strings.Contains(r.stdout, "16 points") {
		t.Errorf("stdout does not report the grid:\n%s", r.stdout)
	}

	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "segment", clip, "--out", filepath.Join(dir, "x"))
	expect(t, r, 2, "give --everything")
	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "segment", clip, "--everything", "--crop-n-layers", "1", "--out", filepath.Join(dir, "x"))
	expect(t, r, 2, "crop layers are not supported")
	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "segment", clip, "--everything", "--frame", "64", "--out", filepath.Join(dir, "x"))
	expect(t, r, 2, "--frame 64")
}

// track --everything tracks each mask found on --frame as its own object,
// both ways, capped at --max-objects with a message.
func TestTrackEverything(t *testing.T) {
	model := testutil.SmallModel(t)
	clip := testutil.Clip(t, "moving_shape")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("runs the model (needs the ONNX Runtime library; not in -short)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, append([]string{"track", clip, "--everything", "--frame", "1", "--both",
		"--max-objects", "2", "--frames", "3", "--no-overlay", "--quiet", "--out", out}, fixtureEverything...)...)
	expect(t, r, 0, "more than --max-objects 2: tracking the 2 with the highest predicted IoU")
	var rec struct {
		Prompts []struct {
			Frame  int       `json:"frame"`
			Object int       `json:"object"`
			Mask   *mask.RLE `json:"mask"`
		} `json:"prompts"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Prompts) != 2 {
		t.Fatalf("run.json has %d prompts, want 2 mask prompts", len(rec.Prompts))
	}
	for i, p := range rec.Prompts {
		if p.Frame != 1 || p.Object != i+1 || p.Mask == nil || p.Mask.Area() == 0 {
			t.Errorf("prompt %d: frame %d object %d mask %v", i, p.Frame, p.Object, p.Mask != nil)
		}
	}
	lines, err := os.ReadFile(filepath.Join(out, "tracks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var frames []int
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var fr struct {
			Frame   int `json:"frame"`
			Objects []struct {
				ID int `json:"id"`
			} `json:"objects"`
		}
		if err := json.Unmarshal([]byte(line), &fr); err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, o := range fr.Objects {
			ids = append(ids, o.ID)
		}
		if !slices.Equal(ids, []int{1, 2}) {
			t.Errorf("frame %d has objects %v, want [1 2]", fr.Frame, ids)
		}
		frames = append(frames, fr.Frame)
	}
	if !slices.Equal(frames, []int{0, 1, 2}) {
		t.Errorf("tracks.jsonl has frames %v, want 0, 1, 2 (forward and backward from frame 1)", frames)
	}

	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "track", clip, "--everything", "--point", "10,10", "--out", filepath.Join(dir, "x"))
	expect(t, r, 2, "give no --point")
}
