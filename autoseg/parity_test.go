package autoseg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/video"
)

// reference is what tools/export/amg_reference.py records of the official
// generator's run.
type reference struct {
	ModelDir string `json:"model_dir"`
	Input    string `json:"input"`
	Frame    int    `json:"frame"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Params   struct {
		PointsPerSide        int     `json:"points_per_side"`
		PointsPerBatch       int     `json:"points_per_batch"`
		PredIoUThresh        float64 `json:"pred_iou_thresh"`
		StabilityScoreThresh float64 `json:"stability_score_thresh"`
		StabilityScoreOffset float64 `json:"stability_score_offset"`
		BoxNMSThresh         float64 `json:"box_nms_thresh"`
		MultimaskOutput      bool    `json:"multimask_output"`
		UseM2M               bool    `json:"use_m2m"`
	} `json:"params"`
	Masks []struct {
		Counts         string     `json:"counts"`
		Area           int        `json:"area"`
		BBox           [4]float64 `json:"bbox"`
		PredictedIoU   float64    `json:"predicted_iou"`
		StabilityScore float64    `json:"stability_score"`
		Point          [2]float64 `json:"point"`
	} `json:"masks"`
}

func (r *reference) params() Params {
	p := DefaultParams()
	p.PointsPerSide, p.PointsPerBatch = r.Params.PointsPerSide, r.Params.PointsPerBatch
	p.PredIoUThresh, p.StabilityScoreThresh = r.Params.PredIoUThresh, r.Params.StabilityScoreThresh
	p.StabilityScoreOffset, p.BoxNMSThresh = r.Params.StabilityScoreOffset, r.Params.BoxNMSThresh
	p.MultimaskOutput, p.UseM2M = r.Params.MultimaskOutput, r.Params.UseM2M
	return p
}

var shared struct {
	once  sync.Once
	rt    *sam.Runtime
	model *sam.Model
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.model != nil {
		shared.model.Close()
	}
	if shared.rt != nil {
		shared.rt.Close()
	}
	os.Exit(code)
}

// smallModel is the committed 256-px fixture, opened once for the tests.
func smallModel(t *testing.T) *sam.Model {
	t.Helper()
	dir := testutil.SmallModel(t)
	shared.once.Do(func() {
		lib, err := sam.FindRuntimeLibrary("")
		if err != nil {
			shared.err = err
			return
		}
		if shared.rt, shared.err = sam.NewRuntime(lib); shared.err != nil {
			return
		}
		shared.model, shared.err = sam.Open(shared.rt, dir, sam.Options{Provider: sam.ProviderCPU, Threads: 2, Logger: slog.New(slog.DiscardHandler)})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.model
}

// frame decodes frame index of input as vidseg hands it to the model.
func frame(t testing.TB, input string, index, size int) *video.Frame {
	t.Helper()
	d, err := decode.Open(context.Background(), input, decode.Options{ModelSize: size})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src := decode.NewSource(d, 0, 1)
	f, err := src.Frame(context.Background(), index)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The generator finds what the official SAM2AutomaticMaskGenerator finds
// on the same frame and weights: the same masks (IoU >= 0.99), in the same
// order, with the same scores, boxes and points.
func TestParityWithOfficialGenerator(t *testing.T) {
	for _, name := range []string{"moving_shape_10", "moving_shape_6_m2m", "moving_shape_8_single", "moving_shape_8_nms"} {
		t.Run(name, func(t *testing.T) {
			root := testutil.RepoRoot(t)
			raw, err := os.ReadFile(filepath.Join(root, "testdata", "autoseg", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref reference
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			if len(ref.Masks) == 0 {
				t.Fatal("the reference has no masks: it tests nothing")
			}
			m := smallModel(t)
			if ref.ModelDir != "testdata/model/sam2.1_hiera_t_random256" {
				t.Fatalf("the reference was made with %s, not the small fixture", ref.ModelDir)
			}
			f := frame(t, filepath.Join(root, ref.Input), ref.Frame, m.Manifest().ImageSize)
			if f.Width != ref.Width || f.Height != ref.Height {
				t.Fatalf("frame is %dx%d, the reference's %dx%d", f.Width, f.Height, ref.Width, ref.Height)
			}
			got, st, _, err := Segment(context.Background(), m, f, ref.params())
			if err != nil {
				t.Fatal(err)
			}
			wantRuns, per := 0, 1
			if ref.Params.MultimaskOutput {
				per = 3
			}
			for lo, bs := 0, ref.Params.PointsPerBatch; lo < st.Points; lo += bs {
				wantRuns++
				if ref.Params.UseM2M { // the batch's masks refined in batches of the same size
					wantRuns += (per*min(bs, st.Points-lo) + bs - 1) / bs
				}
			}
			if st.Runs != wantRuns {
				t.Errorf("%d decoder runs for %d points in batches of %d, want %d", st.Runs, st.Points, ref.Params.PointsPerBatch, wantRuns)
			}
			t.Logf("%d points, %d candidates, %d kept before NMS, %d masks (reference %d)", st.Points, st.Candidates, st.Kept, len(got), len(ref.Masks))
			compare(t, got, &ref)
		})
	}
}

func compare(t *testing.T, got []Mask, ref *reference) {
	t.Helper()
	if len(got) != len(ref.Masks) {
		t.Errorf("%d masks, the reference %d", len(got), len(ref.Masks))
	}
	for i := range min(len(got), len(ref.Masks)) {
		g, w := &got[i], &ref.Masks[i]
		want, err := mask.ParseRLE(w.Counts, ref.Width, ref.Height)
		if err != nil {
			t.Fatalf("reference mask %d: %v", i, err)
		}
		wm, err := want.Decode()
		if err != nil {
			t.Fatalf("reference mask %d: %v", i, err)
		}
		gm, err := g.RLE.Decode()
		if err != nil {
			t.Fatalf("mask %d: %v", i, err)
		}
		iou, err := mask.IoU(gm, wm)
		if err != nil {
			t.Fatal(err)
		}
		var errs []string
		if iou < 0.99 {
			errs = append(errs, fmt.Sprintf("mask IoU %.4f with the reference's", iou))
		}
		if d := math.Abs(float64(g.PredictedIoU) - w.PredictedIoU); d > 1e-4 {
			errs = append(errs, fmt.Sprintf("predicted IoU %.6f, want %.6f", g.PredictedIoU, w.PredictedIoU))
		}
		if d := math.Abs(float64(g.StabilityScore) - w.StabilityScore); d > 1e-3 {
			errs = append(errs, fmt.Sprintf("stability %.6f, want %.6f", g.StabilityScore, w.StabilityScore))
		}
		bb := g.BBoxXYWH()
		for k := range 4 {
			if math.Abs(float64(bb[k])-w.BBox[k]) > 1 {
				errs = append(errs, fmt.Sprintf("bbox %v, want %v", bb, w.BBox))
				break
			}
		}
		if g.Point != w.Point {
			errs = append(errs, fmt.Sprintf("point %v, want %v", g.Point, w.Point))
		}
		if abs(g.Area-w.Area) > max(w.Area/100, 2) {
			errs = append(errs, fmt.Sprintf("area %d, want %d", g.Area, w.Area))
		}
		if len(errs) > 0 {
			t.Errorf("mask %d: %v", i, errs)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
