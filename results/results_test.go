package results

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/tracker"
)

// square is a w x h result for object id: the rectangle [x0,x1) x [y0,y1).
func square(t *testing.T, id, w, h, x0, y0, x1, y1 int) tracker.ObjectResult {
	t.Helper()
	m := make([]byte, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[y*w+x] = 1
		}
	}
	rle, err := mask.EncodeRLE(m, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return tracker.ObjectResult{Object: id, Mask: m, RLE: rle, Box: mask.BoxOf(rle.BBox()), IoU: 0.5, ObjectScore: 3, Visible: true}
}

// TestOverlayUsesLiveColors writes results for two frames of a real clip
// and checks overlay.mp4 colours the object as the live view does
// (overlay.Composite), not in a palette of its own.
func TestOverlayUsesLiveColors(t *testing.T) {
	video := filepath.Join("..", "testdata", "videos", "crossing", "video.mp4")
	if _, err := os.Stat(video); err != nil {
		t.Skipf("generated clip absent: %v", err)
	}
	const w, h, id = 320, 240, 2
	dir := t.TempDir()
	out, err := NewWriter(dir, video, w, h, 25, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	for f := range 2 {
		res := &tracker.FrameResult{Frame: f, Width: w, Height: h, Objects: []tracker.ObjectResult{square(t, id, w, h, 100, 60, 220, 180)}}
		if err := out.Add(res); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Finish(); err != nil {
		t.Fatal(err)
	}
	frames := 0
	if err := WriteOverlay(context.Background(), dir, video, 2, func() { frames++ }); err != nil || frames != 2 {
		t.Fatalf("overlay: %v after %d frames", err, frames)
	}

	// The source's first frame composited by the live renderer...
	src := firstFrame(t, video)
	want := append([]byte(nil), src...)
	if err := overlay.Composite(want, w, h, []overlay.ObjectMask{{ID: id, Mask: square(t, id, w, h, 100, 60, 220, 180).Mask}}); err != nil {
		t.Fatal(err)
	}
	// ...matches overlay.mp4's first frame inside the object, within what
	// H.264 changes.
	got := firstFrame(t, filepath.Join(dir, OverlayMP4))
	var diff, n float64
	for y := 80; y < 160; y++ {
		for x := 120; x < 200; x++ {
			for c := range 3 {
				i := (y*w+x)*3 + c
				d := float64(got[i]) - float64(want[i])
				diff += d * d
				n++
			}
		}
	}
	if rms := math.Sqrt(diff / n); rms > 12 {
		t.Errorf("overlay.mp4 inside object %d differs from overlay.Composite by %.1f RMS", id, rms)
	}
}

func firstFrame(t *testing.T, path string) []byte {
	t.Helper()
	d, err := decode.Open(context.Background(), path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f.RGB
}

func TestWriterFiles(t *testing.T) {
	const w, h = 8, 6
	dir := t.TempDir()
	out, err := NewWriter(dir, "clip.mp4", w, h, 30, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	// Frames arrive out of order (a backward pass); frame 2 is never tracked.
	for _, f := range []int{1, 0} {
		res := &tracker.FrameResult{Frame: f, Width: w, Height: h, Objects: []tracker.ObjectResult{
			square(t, 3, w, h, 4, 1, 6, 3), square(t, 1, w, h, 0, 0, 5, 2),
		}}
		if err := out.Add(res); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Add(&tracker.FrameResult{Frame: 0, Width: 4, Height: 4}); err == nil {
		t.Error("result of another size accepted")
	}
	if err := out.Finish(); err != nil {
		t.Fatal(err)
	}
	// Every frame has a PNG (frame 2 empty); overlaps keep the higher id.
	labels, lw, lh, err := mask.ReadPNG(filepath.Join(dir, MasksDir, MaskName(0)))
	if err != nil || lw != w || lh != h || labels[1*w+4] != 3 || labels[0] != 1 || labels[5*w+7] != 0 {
		t.Fatalf("frame 0 png: %v %dx%d %v", err, lw, lh, labels)
	}
	if _, _, _, err := mask.ReadPNG(filepath.Join(dir, MasksDir, MaskName(2))); err != nil {
		t.Errorf("untracked frame 2 has no empty PNG: %v", err)
	}
	var doc struct {
		Format  string `json:"format"`
		Objects []int  `json:"objects"`
		Results []struct {
			Frame   int `json:"frame"`
			Objects []struct {
				ID   int      `json:"id"`
				Seg  mask.RLE `json:"segmentation"`
				Area int      `json:"area"`
				BBox [4]int   `json:"bbox"`
			} `json:"objects"`
		} `json:"results"`
	}
	data, err := os.ReadFile(filepath.Join(dir, MasksJSON))
	if err != nil || json.Unmarshal(data, &doc) != nil {
		t.Fatalf("masks.json: %v %s", err, data)
	}
	// Frame 2 is there too, marked unreached (TestWriterUnreachedFrames).
	if doc.Format != MasksFormat || len(doc.Objects) != 2 || len(doc.Results) != 3 || doc.Results[0].Frame != 0 || len(doc.Results[2].Objects) != 0 {
		t.Fatalf("masks.json %s", data)
	}
	o := doc.Results[0].Objects[0] // sorted by id: object 1
	if o.ID != 1 || o.Area != 10 || o.BBox != [4]int{0, 0, 5, 2} || o.Seg.Area() != 10 {
		t.Errorf("object record %+v", o)
	}
	f, err := os.Open(filepath.Join(dir, TracksFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var rec struct {
			Frame   int `json:"frame"`
			Objects []struct {
				Box *[4]int `json:"box"`
			} `json:"objects"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Frame != lines || lines < 2 && *rec.Objects[0].Box != [4]int{0, 0, 5, 2} {
			t.Errorf("tracks.jsonl line %d: %v %s", lines, err, sc.Bytes())
		}
	}
	if lines != 3 {
		t.Errorf("tracks.jsonl has %d lines, want 3", lines)
	}
}

// TestLabelsMatchWriterPNG: the label image built from masks.json records
// (the web app's masks.zip) equals the PNG the Writer wrote from the
// masks, overlaps included, and a mask of another size is refused.
func TestLabelsMatchWriterPNG(t *testing.T) {
	const w, h = 16, 12
	dir := t.TempDir()
	out, err := NewWriter(dir, "v.mp4", w, h, 25, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	a, b := square(t, 1, w, h, 2, 2, 10, 8), square(t, 3, w, h, 6, 4, 14, 11)
	if err := out.Add(&tracker.FrameResult{Frame: 0, Width: w, Height: h, Objects: []tracker.ObjectResult{b, a}}); err != nil {
		t.Fatal(err)
	}
	if err := out.Finish(); err != nil {
		t.Fatal(err)
	}
	png, _, _, err := mask.ReadPNG(filepath.Join(dir, MasksDir, MaskName(0)))
	if err != nil {
		t.Fatal(err)
	}
	objs := []Object{NewObject(3, b.RLE, b.RLE.Area(), 0, 0, true), NewObject(1, a.RLE, a.RLE.Area(), 0, 0, true)}
	got, err := Labels(objs, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(png) {
		t.Errorf("labels from the records differ from the PNG:\n%v\n%v", got, png)
	}
	if _, err := Labels(objs, w+1, h); err == nil {
		t.Error("a mask of another size than the video was accepted")
	}
}

// TestWriterUnreachedFrames: a run whose passes do not reach every frame
// (a prompt on frame 2 of 4 tracked forward, or --reverse from frame 2)
// still describes every frame in every output: an empty PNG, and a
// masks.json result and tracks.jsonl line marked unreached, with no objects.
func TestWriterUnreachedFrames(t *testing.T) {
	const w, h, frames = 8, 6, 4
	for _, reached := range [][]int{{2, 3}, {2, 1, 0}} {
		dir := t.TempDir()
		out, err := NewWriter(dir, "clip.mp4", w, h, 25, frames, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range reached {
			res := &tracker.FrameResult{Frame: f, Width: w, Height: h, Objects: []tracker.ObjectResult{square(t, 1, w, h, 1, 1, 4, 4)}}
			if err := out.Add(res); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Finish(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, MasksJSON))
		if err != nil {
			t.Fatal(err)
		}
		type record struct {
			Frame     int               `json:"frame"`
			Unreached bool              `json:"unreached"`
			Objects   []json.RawMessage `json:"objects"`
		}
		var doc struct {
			Frames  int      `json:"frames"`
			Results []record `json:"results"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var tracks []record
		f, err := os.Open(filepath.Join(dir, TracksFile))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var fr record
			if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
				t.Fatal(err)
			}
			tracks = append(tracks, fr)
		}
		f.Close()
		if doc.Frames != frames || len(doc.Results) != frames || len(tracks) != frames {
			t.Fatalf("reached %v: masks.json frames=%d with %d results, tracks.jsonl %d lines; want %d of each",
				reached, doc.Frames, len(doc.Results), len(tracks), frames)
		}
		for i := range frames {
			if _, err := os.Stat(filepath.Join(dir, MasksDir, MaskName(i))); err != nil {
				t.Errorf("reached %v: %v", reached, err)
			}
			was := false
			for _, r := range reached {
				was = was || r == i
			}
			for _, fr := range []record{doc.Results[i], tracks[i]} {
				if fr.Frame != i || fr.Unreached == was || was != (len(fr.Objects) == 1) {
					t.Errorf("reached %v: frame %d record %+v", reached, i, fr)
				}
			}
		}
	}
}
