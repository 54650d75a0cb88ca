package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/video"
)

// Real-world inputs through the built binary: each makes its clip with the
// ffmpeg CLI from the generated test clip, and tracks as few frames as the
// point needs (the model costs seconds per frame on a shared machine).

// trackEnv skips unless the fixture model, the clip, ONNX Runtime and the
// ffmpeg CLI are there; it returns the clip and the model environment.
func trackEnv(t *testing.T) (clip string, env []string) {
	t.Helper()
	model := testutil.SmallModel(t)
	clip = testutil.Clip(t, "crossing")
	if _, err := os.Stat(clip); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent: run go run ./tools/genvideos")
	}
	if testing.Short() || ortLib(t) == "" {
		t.Skip("needs the model run and ONNX Runtime (make setup)")
	}
	return clip, []string{"VIDSEG_MODEL=" + model}
}

// decodeAll decodes a whole file with package decode.
func decodeAll(t *testing.T, path string) (decode.Info, []*video.Frame, error) {
	t.Helper()
	d, err := decode.Open(context.Background(), path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var frames []*video.Frame
	for {
		f, err := d.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return d.Info(), frames, nil
		}
		if err != nil {
			return d.Info(), frames, err
		}
		frames = append(frames, f)
	}
}

type masksHeader struct {
	Width, Height, Frames int
	Results               []struct {
		Frame   int      `json:"frame"`
		PTS     *float64 `json:"pts"`
		Objects []struct {
			ID           int      `json:"id"`
			Segmentation mask.RLE `json:"segmentation"`
		} `json:"objects"`
	} `json:"results"`
}

func readMasksJSON(t *testing.T, dir string) masksHeader {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, results.MasksJSON))
	if err != nil {
		t.Fatal(err)
	}
	var doc masksHeader
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("masks.json: %v", err)
	}
	return doc
}

// A phone-style clip (coded 320x240, display matrix a quarter turn) is
// tracked upright: prompts are read in displayed pixels (100,300 lies
// outside the coded 320x240), and masks, RLE and overlay are 240x320. The
// mask prompt, the first frame's annotation turned the same way and saved
// as RGB with the DAVIS colours, comes back through the model in place.
func TestTrackRotated(t *testing.T) {
	clip, env := trackEnv(t)
	dir := t.TempDir()
	rotated := filepath.Join(dir, "rotated.mp4")
	testutil.FFmpeg(t, "-i", clip, "-frames:v", "2", "-c", "copy", "-metadata:s:v", "rotate=90", rotated)

	// FFmpeg shows this tag as transpose=cclock: displayed (x, y) is coded (w-1-y, x).
	gt, w, h, err := mask.ReadPNG(filepath.Join(filepath.Dir(clip), "masks", results.MaskName(0)))
	if err != nil {
		t.Fatal(err)
	}
	turned := make([]byte, len(gt))
	pal := mask.Palette()
	img := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := range w {
		for x := range h {
			v := gt[x*w+(w-1-y)]
			turned[y*h+x] = v
			img.Set(x, y, pal[v])
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	maskFile := filepath.Join(dir, "turned_rgb.png")
	os.WriteFile(maskFile, buf.Bytes(), 0o644)

	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, env, "track", rotated, "--mask", maskFile, "--point", "100,300#3",
		"--frames", "1", "--mode", "sam2", "--out", out)
	expect(t, r, 0, "")
	doc := readMasksJSON(t, out)
	if doc.Width != h || doc.Height != w || len(doc.Results) != 1 {
		t.Fatalf("masks.json %dx%d with %d frames, want %dx%d with 1", doc.Width, doc.Height, len(doc.Results), h, w)
	}
	for _, o := range doc.Results[0].Objects {
		if o.Segmentation.Height != w || o.Segmentation.Width != h {
			t.Errorf("object %d RLE %dx%d, want %dx%d", o.ID, o.Segmentation.Width, o.Segmentation.Height, h, w)
		}
		if o.ID == 3 {
			continue // the click: random weights segment anything
		}
		m, err := o.Segmentation.Decode()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(turned))
		for i, v := range turned {
			if int(v) == o.ID {
				want[i] = 1
			}
		}
		if iou, _ := mask.IoU(m, want); iou < 0.8 {
			t.Errorf("object %d: IoU %.3f with the turned mask prompt, want >= 0.8", o.ID, iou)
		}
	}
	if _, pw, ph, err := mask.ReadPNG(filepath.Join(out, results.MasksDir, results.MaskName(0))); err != nil || pw != h || ph != w {
		t.Errorf("masks/00000.png is %dx%d (%v), want %dx%d", pw, ph, err, h, w)
	}
	info, frames, err := decodeAll(t, filepath.Join(out, results.OverlayMP4))
	if err != nil || len(frames) != 1 || info.Width != h || info.Height != w {
		t.Errorf("overlay.mp4: %d frames of %dx%d (%v), want 1 of %dx%d", len(frames), info.Width, info.Height, err, h, w)
	}
}

// An odd-sized (641x479), variable-frame-rate clip: the overlay is written
// (coded 642x480, the edge repeated), masks stay 641x479, and every frame
// keeps its source timestamp in the overlay, tracks.jsonl and masks.json.
func TestTrackOddSizeVFR(t *testing.T) {
	clip, env := trackEnv(t)
	dir := t.TempDir()
	vfr := filepath.Join(dir, "vfr_641x479.mp4")
	// Frame 1 comes 0.3 s after frame 0, the rest every 40 ms (the
	// average rate, about 12 fps, would put frame 1 at 0.08 s).
	testutil.FFmpeg(t, "-i", clip, "-frames:v", "8", "-vf", "scale=641:479,setpts='if(eq(N,0),0,0.3+(N-1)*0.04)/TB'",
		"-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-video_track_timescale", "1000", vfr)
	_, src, err := decodeAll(t, vfr)
	if err != nil || len(src) != 8 {
		t.Fatalf("test clip: %d frames, %v", len(src), err)
	}
	wantPTS := []time.Duration{src[0].PTS, src[1].PTS}
	if d := wantPTS[1] - wantPTS[0]; d < 290*time.Millisecond || d > 310*time.Millisecond {
		t.Fatalf("test clip frame 1 at %v, want 0.3 s after frame 0", wantPTS[1])
	}

	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, env, "track", vfr, "--point", "320,240", "--frames", "2", "--out", out)
	expect(t, r, 0, "")
	info, frames, err := decodeAll(t, filepath.Join(out, results.OverlayMP4))
	if err != nil || len(frames) != 2 {
		t.Fatalf("overlay.mp4: %d frames, %v; want 2", len(frames), err)
	}
	if info.Width != 642 || info.Height != 480 {
		t.Errorf("overlay.mp4 is %dx%d, want 642x480", info.Width, info.Height)
	}
	for i, f := range frames {
		if d := f.PTS - wantPTS[i]; d.Abs() > time.Millisecond {
			t.Errorf("overlay frame %d at %v, source at %v", i, f.PTS, wantPTS[i])
		}
	}
	if _, pw, ph, err := mask.ReadPNG(filepath.Join(out, results.MasksDir, results.MaskName(1))); err != nil || pw != 641 || ph != 479 {
		t.Errorf("masks/00001.png is %dx%d (%v), want 641x479", pw, ph, err)
	}
	type line struct {
		Frame int      `json:"frame"`
		PTS   *float64 `json:"pts"`
	}
	lines := readJSONL[line](t, filepath.Join(out, results.TracksFile))
	doc := readMasksJSON(t, out)
	if len(lines) != 2 || len(doc.Results) != 2 || doc.Width != 641 || doc.Height != 479 {
		t.Fatalf("tracks.jsonl %d lines, masks.json %dx%d %d frames", len(lines), doc.Width, doc.Height, len(doc.Results))
	}
	for i, l := range lines {
		for what, pts := range map[string]*float64{"tracks.jsonl": l.PTS, "masks.json": doc.Results[i].PTS} {
			if pts == nil || math.Abs(*pts-wantPTS[i].Seconds()) > 1e-3 {
				t.Errorf("%s frame %d pts %v, want %.3f", what, i, pts, wantPTS[i].Seconds())
			}
		}
	}
}

// A still image is a one-frame video.
func TestTrackStillImage(t *testing.T) {
	clip, env := trackEnv(t)
	dir := t.TempDir()
	still := filepath.Join(dir, "still.png")
	testutil.FFmpeg(t, "-i", clip, "-frames:v", "1", still)
	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, env, "track", still, "--point", "100,100", "--out", out)
	expect(t, r, 0, "")
	if doc := readMasksJSON(t, out); doc.Frames != 1 || len(doc.Results) != 1 {
		t.Errorf("masks.json: %d frames, %d results; want 1", doc.Frames, len(doc.Results))
	}
	if _, frames, err := decodeAll(t, filepath.Join(out, results.OverlayMP4)); err != nil || len(frames) != 1 {
		t.Errorf("overlay.mp4: %d frames, %v; want 1", len(frames), err)
	}
}

// A truncated file that yields fewer frames than asked for: the run
// finishes the results of the frames that decode (overlay included), exits
// 3 saying the input is truncated, and leaves nothing to resume (a resume
// would re-track the good frames and fail the same way).
func TestTrackTruncated(t *testing.T) {
	clip, env := trackEnv(t)
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.mp4")
	// Intra-only, index first: the cut keeps the first frames whole.
	testutil.FFmpeg(t, "-i", clip, "-frames:v", "5", "-c:v", "libx264", "-g", "1", "-movflags", "+faststart", whole)
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mp4")
	os.WriteFile(cut, data[:len(data)*55/100], 0o644)
	_, frames, err := decodeAll(t, cut)
	if !errors.Is(err, decode.ErrTruncated) || len(frames) < 1 || len(frames) > 3 {
		t.Fatalf("test clip: %d frames then %v; want 1..3 then truncated", len(frames), err)
	}
	got := len(frames)

	out := filepath.Join(dir, "out")
	r := vidseg(t, dir, env, "track", cut, "--point", "100,100", "--out", out)
	expect(t, r, cli.ExitInput, "truncated")
	if strings.Contains(r.stderr, "--resume") || !strings.Contains(r.stderr, out) {
		t.Errorf("message should name %s and not suggest --resume:\n%s", out, r.stderr)
	}
	if doc := readMasksJSON(t, out); doc.Frames != got || len(doc.Results) != got {
		t.Errorf("masks.json says %d frames with %d results, %d were tracked", doc.Frames, len(doc.Results), got)
	}
	if _, frames, err := decodeAll(t, filepath.Join(out, results.OverlayMP4)); err != nil || len(frames) != got {
		t.Errorf("overlay.mp4: %d frames, %v; want %d", len(frames), err, got)
	}
	if _, err := os.Stat(filepath.Join(out, results.MasksLog)); err == nil {
		t.Errorf("%s kept: the run looks unfinished", results.MasksLog)
	}
	expect(t, vidseg(t, dir, env, "track", "--resume", out), cli.ExitInput, "nothing to resume")
}

// Bad inputs and prompts outside the frame are reported before the model
// loads: here the model is missing, and the input's error still comes first.
func TestInputCheckedBeforeModel(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	if _, err := os.Stat(clip); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent: run go run ./tools/genvideos")
	}
	dir := t.TempDir()
	noModel := []string{"VIDSEG_MODEL=" + dir} // no manifest.json: an invalid model
	os.WriteFile(filepath.Join(dir, "junk.mp4"), []byte("not a video at all"), 0o644)
	r := vidseg(t, dir, noModel, "track", "junk.mp4", "--point", "1,1", "--out", "o")
	expect(t, r, cli.ExitInput, "junk.mp4")
	r = vidseg(t, dir, noModel, "track", clip, "--point", "400,100", "--out", "o")
	expect(t, r, cli.ExitUsage, "outside")
	// A good input gets as far as the model.
	r = vidseg(t, dir, noModel, "track", clip, "--point", "100,100", "--out", "o")
	expect(t, r, cli.ExitModel, "manifest.json")
}

// eval names the file that is missing, not a staged copy's path.
func TestEvalNamesRealFiles(t *testing.T) {
	gt := filepath.Join(testutil.RepoRoot(t), "testdata", "videos", "crossing", "masks")
	if _, err := os.Stat(gt); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent: run go run ./tools/genvideos")
	}
	dir := t.TempDir()
	pred := filepath.Join(dir, "pred")
	if err := os.CopyFS(pred, os.DirFS(gt)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(pred, "00010.png"))
	r := vidseg(t, dir, nil, "eval", pred, gt)
	expect(t, r, cli.ExitInput, filepath.Join(pred, "00010.png"))
	// The same as a track output folder (PRED/masks).
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	os.Rename(pred, filepath.Join(out, results.MasksDir))
	r = vidseg(t, dir, nil, "eval", out, gt)
	expect(t, r, cli.ExitInput, filepath.Join(out, results.MasksDir, "00010.png"))
}
