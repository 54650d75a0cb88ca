package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/session"
)

// Issue 25: the media directory's gallery. GET /api/media lists the
// videos under the media root; each has a thumbnail of its first frame,
// under the same policy as opening it; the page shows them as cards and
// a click opens one to scrub and track. (Before: the file name had to
// be typed.)
func TestPageGallery(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{})
	var list MediaList
	if r := call(t, "GET", hs.URL+"/api/media", "", nil); r.status != 200 || json.Unmarshal(r.body, &list) != nil {
		t.Fatalf("GET /api/media: %d %s", r.status, r.body)
	}
	var names []string
	for _, f := range list.Files {
		names = append(names, f.Name)
	}
	for _, want := range []string{"crossing/video.mp4", "moving_shape/video.mp4"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("media list %v lacks %s", names, want)
		}
	}
	if strings.Contains(strings.Join(names, " "), ".png") {
		t.Errorf("media list %v has images", names)
	}
	r := call(t, "GET", hs.URL+"/api/media/thumbnail?name="+url.QueryEscape("moving_shape/video.mp4"), "", nil)
	if r.status != 200 {
		t.Fatalf("thumbnail: %d %.200s", r.status, r.body)
	}
	img, err := jpeg.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 120 || b.Dy() != 90 {
		t.Errorf("thumbnail of a 320x240 video is %v, want 120x90", b)
	}
	// It is the first frame: the mean colour matches.
	src := frameRGB(t, clip, 0)
	var want, got [3]float64
	for i := 0; i < len(src); i += 3 {
		for c := range 3 {
			want[c] += float64(src[i+c]) / float64(len(src)/3)
		}
	}
	for y := range 90 {
		for x := range 120 {
			r, g, b, _ := img.At(x, y).RGBA()
			got[0], got[1], got[2] = got[0]+float64(r>>8)/(120*90), got[1]+float64(g>>8)/(120*90), got[2]+float64(b>>8)/(120*90)
		}
	}
	for c := range 3 {
		if d := want[c] - got[c]; d > 4 || d < -4 {
			t.Errorf("thumbnail mean colour %v, the first frame's %v", got, want)
			break
		}
	}
	for _, c := range []struct {
		name   string
		status int
	}{
		{"../../go.mod", 403},
		{"/etc/passwd", 403},
		{"https://example.com/a.mp4", 400},
		{"nothere.mp4", 404},
		{"", 400},
	} {
		if r := call(t, "GET", hs.URL+"/api/media/thumbnail?name="+url.QueryEscape(c.name), "", nil); r.status != c.status || strings.Contains(string(r.body), testutil.RepoRoot(t)) {
			t.Errorf("thumbnail of %q: %d %s, want %d without server paths", c.name, r.status, r.body, c.status)
		}
	}
	_, bare := newBareServer(t, Config{})
	if r := call(t, "GET", bare.URL+"/api/media", "", nil); r.status != 404 || !strings.Contains(string(r.body), "media-root") {
		t.Errorf("GET /api/media without a media root: %d %s, want 404 saying how to set one", r.status, r.body)
	}

	// The page: a card per video, thumbnails loaded; a click opens it.
	ctx := browser(t)
	viewport(t, ctx, 1280, 800, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the gallery with its thumbnails", fmt.Sprintf(`vidseg.gallery && vidseg.gallery.loaded && document.querySelectorAll("#gallery button.clip").length === %d &&
	  Array.from(document.querySelectorAll("#gallery img")).every(i => i.complete && i.naturalWidth === 120)`, len(list.Files)), 30*time.Second)
	screenshot(t, ctx, "page-gallery-1280.png")
	click(t, ctx, `#gallery button[data-name="moving_shape/video.mp4"]`)
	pollTrue(t, ctx, "the clicked video open to scrub", `vidseg.session && vidseg.session.edit && vidseg.session.source === "moving_shape/video.mp4" && vidseg.connected`, 30*time.Second)
	// At 390 px the cards fit the width.
	viewport(t, ctx, 390, 844, true)
	pollTrue(t, ctx, "the gallery within 390 px", `Array.from(document.querySelectorAll("#gallery button.clip")).every(b => { const r = b.getBoundingClientRect(); return r.right <= 390 && r.height >= 44; })`, 10*time.Second)
	screenshot(t, ctx, "page-gallery-390.png")
	axeCheck(t, ctx, axeSource(t), "the gallery at 390 px")
	// A card opened below the player brings the video into view.
	click(t, ctx, `#gallery button[data-name="crossing/video.mp4"]`)
	pollTrue(t, ctx, "the opened video in view at 390 px", `vidseg.session && vidseg.session.source === "crossing/video.mp4" && (() => { const r = document.getElementById("stage").getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight / 2; })()`, 30*time.Second)
}

// Issue 25: the events panel shows a session's analytics events live
// (the /api/events stream) once it has zones or lines, newest first.
// (Before: events reached only the API, a file and webhooks.)
func TestPageEventsPanel(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	_, hs := newServer(t, Config{
		ModelSize: 64,
		NewTracker: func(context.Context, session.Spec) (session.Tracker, error) {
			return &colorTracker{color: [3]byte{230, 120, 40}}, nil
		},
	})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"loop":true}`, clip)))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)
	geo := `{"zones":[{"name":"right","polygon":[{"x":150,"y":0},{"x":320,"y":0},{"x":320,"y":240},{"x":150,"y":240}]}],"lines":[]}`
	if r := call(t, "PUT", hs.URL+"/api/sessions/"+s.ID+"/zones", "application/json", strings.NewReader(geo)); r.status != 200 {
		t.Fatalf("put zones: %d %s", r.status, r.body)
	}
	viewport(t, ctx, 1280, 800, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the events panel open on a session with a zone", `vidseg.connected && vidseg.events && vidseg.events.src && !document.getElementById("events-panel").hidden`, 30*time.Second)
	promptOnColorReady(t, hs.URL, s.ID)
	pollTrue(t, ctx, "the object's appearance and zone entry in the panel", `vidseg.events.seen.some(e => e.kind === "appeared" && e.object === 1) && vidseg.events.seen.some(e => e.kind === "zone_enter" && e.zone === "right") &&
	  document.querySelector("#events-list li[data-kind=zone_enter]").textContent.includes("object 1 zone enter right")`, 30*time.Second)
	first := eval[string](t, ctx, `document.querySelector("#events-list li").dataset.kind + " " + vidseg.events.seen[vidseg.events.seen.length - 1].kind`)
	if k := strings.Fields(first); len(k) != 2 || k[0] != k[1] {
		t.Errorf("the panel's first row is %q, the newest event %q", k[0], k[1])
	}
	if n := eval[int](t, ctx, `+document.getElementById("events-count").textContent`); n < 2 {
		t.Errorf("events count %d, want at least 2", n)
	}
	screenshot(t, ctx, "page-events-1280.png")
	axeCheck(t, ctx, axeSource(t), "the events panel at 1280 px")
}
