package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
)

// Issue 25: the timeline has thumbnails along it and one lane per
// object. The thumbnail strip is bounded (48 for the 64-frame clip) and
// each thumbnail is its frame, shrunk; the page shows the strip over
// the timeline, and a click on it seeks; the object's lane is in its
// colour on the frames where it is present and empty where no pass has
// been. (Before: the timeline was a bar of tracked ranges only.)
func TestPageTimeline(t *testing.T) {
	ctx, hs, s := editPage(t)
	clip := testutil.Clip(t, "moving_shape")
	base := hs.URL + "/api/sessions/" + s.ID
	pollTrue(t, ctx, "the thumbnails on the timeline", fmt.Sprintf(`vidseg.connected && vidseg.session && vidseg.thumbsLoaded === %q && getComputedStyle(document.getElementById("thumbs")).visibility === "visible"`, s.ID), 30*time.Second)

	r := call(t, "GET", base+"/thumbnails.jpg", "", nil)
	if r.status != 200 {
		t.Fatalf("thumbnails.jpg: %d %.200s", r.status, r.body)
	}
	var count, tw, th int
	if _, err := fmt.Sscanf(r.header.Get("X-Vidseg-Thumbnails"), "%d %dx%d", &count, &tw, &th); err != nil || count != 48 || th != 40 || tw != 53 {
		t.Fatalf("X-Vidseg-Thumbnails %q (%v), want 48 thumbnails of 53x40", r.header.Get("X-Vidseg-Thumbnails"), err)
	}
	img, err := jpeg.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != count*tw || b.Dy() != th {
		t.Fatalf("strip is %v, want %dx%d", b, count*tw, th)
	}
	// Each thumbnail is its frame: the mean colour of each quarter of
	// the picture matches (the ellipse moves between them).
	for _, i := range []int{0, 24, 47} {
		f := (2*i + 1) * s.Edit.Frames / (2 * count)
		src := frameRGB(t, clip, f)
		for q := range 4 {
			qx, qy := q%2, q/2
			var sum [3]float64
			n := 0
			for y := qy * 120; y < (qy+1)*120; y++ {
				for x := qx * 160; x < (qx+1)*160; x++ {
					for c := range 3 {
						sum[c] += float64(src[3*(y*320+x)+c])
					}
					n++
				}
			}
			var got [3]float64
			m := 0
			for y := qy * th / 2; y < (qy+1)*th/2; y++ {
				for x := qx * tw / 2; x < (qx+1)*tw/2; x++ {
					r, g, b, _ := img.At(i*tw+x, y).RGBA()
					got[0], got[1], got[2] = got[0]+float64(r>>8), got[1]+float64(g>>8), got[2]+float64(b>>8)
					m++
				}
			}
			for c := range 3 {
				if d := sum[c]/float64(n) - got[c]/float64(m); d > 8 || d < -8 {
					t.Errorf("thumbnail %d (frame %d), quarter %d: mean %v, the frame's %v", i, f, q, got[c]/float64(m), sum[c]/float64(n))
					break
				}
			}
		}
	}
	screenshot(t, ctx, "page-timeline-1280.png")

	// A click on the thumbnails seeks.
	tl := rect(t, ctx, "#thumbs")
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(tl[0]+(40.5/64)*tl[2], tl[1]+tl[3]/2)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "a click on the thumbnails to seek", `vidseg.session.edit.position === 40`, 20*time.Second)

	// The lane: a mask prompt (the clip's true mask, taken as the
	// result) on frame 60, then a pass forward.
	labels, mw, mh, err := mask.ReadPNG(filepath.Join(filepath.Dir(clip), "masks", "00060.png"))
	if err != nil {
		t.Fatal(err)
	}
	rle, err := mask.EncodeRLE(labels, mw, mh)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"object": 0, "frame": 60, "mask": rle})
	if r := call(t, "POST", base+"/prompts", "application/json", bytes.NewReader(body)); r.status != 200 {
		t.Fatalf("mask prompt: %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/track", "application/json", strings.NewReader(`{"direction":"forward"}`)); r.status != 202 {
		t.Fatalf("track: %d %s", r.status, r.body)
	}
	pollTrue(t, ctx, "the pass to finish", `vidseg.session.edit.tracking === undefined && vidseg.session.edit.doneCount === 4`, modelWait)
	info := sessionInfo(t, hs.URL, s.ID)
	if len(info.Edit.Lanes) != 1 || info.Edit.Lanes[0].Object != 1 || len(info.Edit.Lanes[0].Cells) != 64 || info.Edit.Lanes[0].Cells[60] != 'p' || strings.Trim(info.Edit.Lanes[0].Cells[:60], ".") != "" {
		t.Fatalf("lanes %+v, want object 1's: 64 cells, untracked before 60, present on 60", info.Edit.Lanes)
	}
	pollTrue(t, ctx, "object 1's lane drawn", `vidseg.laneAt(1, 60) === "p" && vidseg.laneAt(1, 10) === ""`, 10*time.Second)
	for f := 61; f < 64; f++ {
		want := map[byte]string{'p': "p", 'a': "a"}[info.Edit.Lanes[0].Cells[f]]
		if got := eval[string](t, ctx, fmt.Sprintf(`vidseg.laneAt(1, %d)`, f)); got != want {
			t.Errorf("the lane on frame %d shows %q, the server says %q", f, got, want)
		}
	}
	screenshot(t, ctx, "page-timeline-lanes-1280.png")
	axeCheck(t, ctx, axeSource(t), "the timeline with thumbnails and a lane at 1280 px")
	// A click on the lane seeks too.
	ln := rect(t, ctx, "#lanes")
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(ln[0]+(61.5/64)*ln[2], ln[1]+ln[3]/2)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "a click on the lane to seek", `vidseg.session.edit.position === 61`, 20*time.Second)
}
