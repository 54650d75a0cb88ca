package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/session"
)

// createEditSession opens src in mode "edit" (scrub and track).
func createEditSession(t *testing.T, base, src string) SessionInfo {
	t.Helper()
	r := call(t, "POST", base+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"mode":"edit"}`, src)))
	if r.status != 201 {
		t.Fatalf("create edit session: %d %s", r.status, r.body)
	}
	var s SessionInfo
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatal(err)
	}
	if s.Mode != "edit" || s.Edit == nil || s.Edit.Frames <= 0 {
		t.Fatalf("edit session info %s", r.body)
	}
	return s
}

func sessionInfo(t *testing.T, base, id string) SessionInfo {
	t.Helper()
	var s SessionInfo
	r := call(t, "GET", base+"/api/sessions/"+id, "", nil)
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("session %s: %d %s", id, r.status, r.body)
	}
	return s
}

func viewport(t *testing.T, ctx context.Context, w, h int64, mobile bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...)); err != nil {
		t.Fatal(err)
	}
}

// editPage opens the moving_shape clip as an edit session with the model,
// and the page on it in Chromium at 1280x800; it skips without the model.
func editPage(t *testing.T) (context.Context, *httptest.Server, SessionInfo) {
	t.Helper()
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	cfg, withModel := fixtureConfig(t, Config{})
	if !withModel {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	s := createEditSession(t, hs.URL, clip)
	viewport(t, ctx, 1280, 800, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	return ctx, hs, s
}

// rect is an element's client rectangle: left, top, width, height.
func rect(t *testing.T, ctx context.Context, sel string) []float64 {
	t.Helper()
	return eval[[]float64](t, ctx, fmt.Sprintf(`(() => { const b = document.querySelector(%q).getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()`, sel))
}

// A file in edit mode, in Chromium at 1280x800, with the fixture model:
// the click marker appears at once, seeking to a frame and clicking there
// makes a conditioning prompt on that frame, the mask canvas shows exactly
// the RLE of the frame on screen, and the timeline shows the frames a
// forward pass tracked.
func TestPageEditSession(t *testing.T) {
	ctx, hs, s := editPage(t)
	frames := s.Edit.Frames
	start := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	pollTrue(t, ctx, "the paused first frame on screen", `vidseg.connected && vidseg.drawn && vidseg.drawn.frame === 0 && vidseg.session && vidseg.session.edit`, 30*time.Second)
	// The stats line (in the closed "Connection details") is one line at
	// 1280 px when opened.
	tops := eval[[]float64](t, ctx, `(document.getElementById("debug").open = true) && Array.from(document.querySelectorAll("#stats > span")).filter(e => !e.hidden).map(e => e.getBoundingClientRect().top)`)
	if len(tops) < 5 || slices.Max(tops)-slices.Min(tops) > 1 {
		t.Errorf("stats line wraps at 1280 px: span tops %v", tops)
	}
	screenshot(t, ctx, "page-edit-paused-1280.png")

	// Seek: click the timeline where frame frames-2 is; tracking forward
	// from there costs only a few model runs (seconds each here).
	want := frames - 2
	tl := rect(t, ctx, "#timeline")
	x := tl[0] + (float64(want)+0.5)*tl[2]/float64(frames)
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(x, tl[1]+tl[3]/2)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the player to seek and show the frame", fmt.Sprintf(`vidseg.session.edit.position >= %d && vidseg.session.edit.position <= %d && vidseg.drawn.frame === vidseg.session.edit.position`, want-2, min(want+2, frames-1)), 20*time.Second)
	at := eval[int](t, ctx, `vidseg.drawn.frame`)
	t.Logf("timeline click for frame %d shows frame %d", want, at)

	// A click on the video: the marker is drawn within 200 ms of the
	// pointer event (page clock), at the click, green, "segmenting...".
	st := rect(t, ctx, "#overlay")
	cx, cy := st[0]+0.5*st[2], st[1]+0.5*st[3]
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(cx, cy)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the click marker", `vidseg.marks.length === 1 && vidseg.marks[0].paintedAt > 0`, 5*time.Second)
	mk := eval[map[string]any](t, ctx, `(() => { const k = vidseg.marks[0]; const c = document.getElementById("overlay");
	  const p = c.getContext("2d").getImageData(Math.round(c.width/2), Math.round(c.height/2), 1, 1).data;
	  return {latency: vidseg.markerLatency[0], painted: k.paintedAt - k.t0, frame: k.frame, status: k.status, pixel: Array.from(p),
	    row: document.querySelector("#objects tbody").textContent}; })()`)
	screenshot(t, ctx, "page-click-marker-1280.png")
	t.Logf("marker: %v", mk)
	if lat := mk["latency"].(float64); lat > 200 || lat < 0 {
		t.Errorf("marker drawn %.1f ms after the pointer event, want <= 200", lat)
	}
	if px := mk["pixel"].([]any); px[1].(float64) < 150 || px[0].(float64) > 100 {
		t.Errorf("no green marker at the click: pixel %v", px)
	}
	if int(mk["frame"].(float64)) != at {
		t.Errorf("marker on frame %v, the page shows frame %d", mk["frame"], at)
	}
	if mk["status"] == "pending" && !strings.Contains(mk["row"].(string), "segmenting") {
		t.Errorf("objects table does not say segmenting while the prompt runs: %q", mk["row"])
	}
	pollTrue(t, ctx, "the click's prompt", `vidseg.prompts >= 1`, 60*time.Second)
	step("click prompt answered")
	info := sessionInfo(t, hs.URL, s.ID)
	if !slices.Contains(info.Edit.Prompts, session.PromptFrame{Object: 1, Frame: at}) {
		t.Errorf("conditioning prompts %+v, want object 1 on frame %d", info.Edit.Prompts, at)
	}

	// Object 2 from a mask prompt on the same frame: a mask well inside
	// the frame, whatever the random weights make of the click.
	pm := make([]byte, 320*240)
	for y := 60; y < 180; y++ {
		for x := 100; x < 220; x++ {
			pm[y*320+x] = 1
		}
	}
	prle, err := mask.EncodeRLE(pm, 320, 240)
	if err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, fmt.Sprintf(`(vidseg.prompt({object: 0, points: [], mask: {size: [240, 320], counts: %q}}), true)`, prle.String()))
	pollTrue(t, ctx, "object 2's mask on the canvas", fmt.Sprintf(`vidseg.prompts >= 2 && vidseg.drawn.frame === %d && vidseg.drawn.objects.some(o => o.id === 2)`, at), 60*time.Second)
	step("mask prompt drawn")
	checkCanvasMatchesServer(t, ctx, hs.URL, s.ID, at)
	screenshot(t, ctx, "page-masks-1280.png")

	// Track forward from the prompted frame to the end.
	click(t, ctx, `#track-controls [data-dir="forward"]`)
	pollTrue(t, ctx, "the forward pass", `vidseg.session.edit.tracking === "forward"`, 10*time.Second)
	pollTrue(t, ctx, "the forward pass to finish", `vidseg.session.edit.tracking === undefined && vidseg.session.edit.doneCount > 1`, 90*time.Second)
	step("forward pass done")
	info = sessionInfo(t, hs.URL, s.ID)
	if info.Edit.Error != "" {
		t.Fatalf("pass failed: %s", info.Edit.Error)
	}
	var tracked []int
	for f := at; f < frames; f++ {
		tracked = append(tracked, f)
	}
	var done []int
	for _, r := range info.Edit.Done {
		for f := r[0]; f <= r[1]; f++ {
			done = append(done, f)
		}
	}
	var doc results.Doc
	if r := call(t, "GET", hs.URL+"/api/sessions/"+s.ID+"/results/masks.json", "", nil); r.status != 200 || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("masks.json: %d %.200s", r.status, r.body)
	}
	var inJSON []int
	for _, fr := range doc.Results {
		inJSON = append(inJSON, fr.Frame)
	}
	shown := eval[[]int](t, ctx, `vidseg.timelineDone()`)
	t.Logf("tracked frames: session %v, masks.json %v, timeline %v", done, inJSON, shown)
	if !slices.Equal(done, tracked) || !slices.Equal(inJSON, tracked) {
		t.Errorf("forward pass from frame %d: session done %v, masks.json %v, want %v", at, done, inJSON, tracked)
	}
	if !slices.Equal(shown, tracked) {
		t.Errorf("the timeline shows frames %v as tracked, want %v", shown, tracked)
	}
	screenshot(t, ctx, "page-tracked-1280.png")

	// A reload re-attaches: the same session, objects, clicks and tracked
	// frames (issue 25: a reload used to delete the session).
	objsBefore := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#objects tbody tr")).map(r => r.dataset.id)`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the reloaded page on the session", fmt.Sprintf(`vidseg.sessionId === %q && vidseg.connected && vidseg.session && vidseg.session.edit && vidseg.drawn && vidseg.drawn.frame === vidseg.session.edit.position`, s.ID), 30*time.Second)
	after := eval[map[string]any](t, ctx, `({marks: vidseg.marks.length, frames: vidseg.marks.map(k => k.frame), done: vidseg.timelineDone(),
	  objects: Array.from(document.querySelectorAll("#objects tbody tr")).map(r => r.dataset.id)})`)
	t.Logf("after the reload: %v (objects before %v)", after, objsBefore)
	if fmt.Sprint(after["objects"]) != fmt.Sprint(objsBefore) || after["marks"].(float64) != 1 {
		t.Errorf("after a reload the page shows objects %v and %v click(s), want objects %v and the 1 click", after["objects"], after["marks"], objsBefore)
	}
	if fmt.Sprint(after["done"]) != fmt.Sprint(tracked) {
		t.Errorf("after a reload the timeline shows %v tracked, want %v", after["done"], tracked)
	}
	// The page downloads the results.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`vidseg.download("tracks.jsonl")`, chromedp.EvalAwaitPromise))
	if err != nil || n == 0 {
		t.Errorf("download tracks.jsonl from the page: %d bytes, %v", n, err)
	}
	r := call(t, "GET", hs.URL+"/api/sessions/"+s.ID+"/results/masks.zip", "", nil)
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("PK")) {
		t.Errorf("masks.zip: %d %.100q", r.status, r.body)
	}
	// overlay.mp4 is the whole video, a frame for each of the clip's.
	r = call(t, "GET", hs.URL+"/api/sessions/"+s.ID+"/results/overlay.mp4", "", nil)
	if r.status != 200 {
		t.Fatalf("overlay.mp4: %d %.100q", r.status, r.body)
	}
	ov := filepath.Join(t.TempDir(), "overlay.mp4")
	if err := os.WriteFile(ov, r.body, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := decode.Open(context.Background(), ov, decode.Options{})
	if err != nil {
		t.Fatalf("overlay.mp4: %v", err)
	}
	defer d.Close()
	if n := d.Info().Frames; n != frames {
		t.Errorf("overlay.mp4 has %d frames, the clip %d", n, frames)
	}
}

// checkCanvasMatchesServer compares the page's mask canvas, pixel by
// pixel, with the union of the present objects' RLE that the server holds
// for frame (its masks.json), which must be the frame the page shows.
func checkCanvasMatchesServer(t *testing.T, ctx context.Context, base, id string, frame int) {
	t.Helper()
	var doc results.Doc
	if r := call(t, "GET", base+"/api/sessions/"+id+"/results/masks.json", "", nil); r.status != 200 || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("masks.json: %d %.200s", r.status, r.body)
	}
	want := maskUnion(t, &doc, frame)
	area := 0
	for _, in := range want {
		if in {
			area++
		}
	}
	drawnFrame := eval[int](t, ctx, `vidseg.drawn.frame`)
	bits := eval[string](t, ctx, `vidseg.maskBits()`)
	if drawnFrame != frame || len(bits) != len(want) {
		t.Fatalf("canvas shows frame %d with %d pixels; want frame %d, %d pixels", drawnFrame, len(bits), frame, len(want))
	}
	diff := 0
	for k := range want {
		if (bits[k] == '1') != want[k] {
			diff++
		}
	}
	t.Logf("frame %d: canvas mask %d px set, server RLE %d px, %d differ", frame, strings.Count(bits, "1"), area, diff)
	if area == 0 || diff != 0 {
		t.Errorf("the mask canvas differs from the RLE of frame %d in %d of %d pixels (mask area %d)", frame, diff, len(want), area)
	}
}

// The page at 390x844 (a phone, touch) without a model: video first and
// full width, no sideways scroll, a tap draws its marker, the page names
// the user's file in errors, shows the model help once, ends the sessions
// it made when switching and when leaving, and the server has a favicon.
func TestPagePhone(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	_, hs := newServer(t, Config{})
	if r := call(t, "GET", hs.URL+"/favicon.ico", "", nil); r.status != 200 {
		t.Errorf("GET /favicon.ico: %d", r.status)
	}
	viewport(t, ctx, 390, 844, true)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the page", `!!(vidseg.info)`, 10*time.Second)

	// A file that is not a video: the error names the user's file.
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(bad, []byte("not a video at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles("#upload-file", []string{bad}), chromedp.Click(`#upload-form button`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the upload error", `!document.getElementById("error").hidden`, 20*time.Second)
	msg := eval[string](t, ctx, `document.getElementById("error").textContent`)
	t.Logf("upload error: %s", msg)
	if !strings.Contains(msg, "notes.txt") || strings.Contains(msg, "vidseg-upload") || strings.Contains(msg, os.TempDir()+"/") {
		t.Errorf("upload error %q: want the file's name, not the server's path", msg)
	}

	// The clip, uploaded by the page: an edit session it owns.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles("#upload-file", []string{clip}), chromedp.Click(`#upload-form button`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the uploaded clip on screen", `vidseg.connected && vidseg.drawn && vidseg.drawn.frame === 0`, 30*time.Second)
	first := eval[string](t, ctx, `vidseg.sessionId`)
	lay := eval[map[string]float64](t, ctx, `(() => { const d = document.documentElement, v = document.getElementById("video").getBoundingClientRect(),
	  c = document.getElementById("controls").getBoundingClientRect(), s = document.getElementById("sources").getBoundingClientRect();
	  return {scrollW: d.scrollWidth, clientW: d.clientWidth, bodyScrollW: document.body.scrollWidth, videoTop: v.top, videoW: v.width, controlsTop: c.top, sourcesTop: s.top}; })()`)
	t.Logf("layout at 390x844: %v", lay)
	if lay["scrollW"] > lay["clientW"] || lay["bodyScrollW"] > lay["clientW"] {
		t.Errorf("the page scrolls sideways at 390 px: scrollWidth %v > %v", lay["scrollW"], lay["clientW"])
	}
	if lay["videoW"] < 340 || lay["videoTop"] > lay["controlsTop"] || lay["videoTop"] > lay["sourcesTop"] {
		t.Errorf("at 390 px the video is not first and full width: %v", lay)
	}
	// Model help once; no "model ... fps" status without a model.
	help := eval[[]string](t, ctx, `[document.getElementById("model-help").hidden ? "" : "help", document.getElementById("st-model-wrap").hidden ? "" : document.getElementById("st-model-wrap").textContent]`)
	if help[0] != "help" || help[1] != "" {
		t.Errorf("no-model help shown %q, model status %q", help[0], help[1])
	}
	// A tap draws its marker at once (the prompt then fails: no model).
	ov := rect(t, ctx, "#overlay")
	tx, ty := ov[0]+0.3*ov[2], ov[1]+0.4*ov[3]
	touch := func(typ input.DispatchTouchEventType, pts []*input.TouchPoint) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts})
			return err
		})
	}
	if err := chromedp.Do(ctx, touch(input.DispatchTouchEventTypeTouchStart, []*input.TouchPoint{{X: tx, Y: ty}}), touch(input.DispatchTouchEventTypeTouchEnd, []*input.TouchPoint{})); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the tap's marker", `vidseg.marks.length === 1`, 5*time.Second)
	lat := eval[float64](t, ctx, `vidseg.markerLatency[0]`)
	t.Logf("tap marker drawn %.1f ms after the pointer event", lat)
	if lat > 200 {
		t.Errorf("tap marker drawn %.1f ms after the pointer event, want <= 200", lat)
	}
	errText := eval[string](t, ctx, `document.getElementById("error").textContent`)
	if strings.Contains(errText, "export.py") {
		t.Errorf("the model help appears a second time, in the error: %q", errText)
	}
	screenshot(t, ctx, "page-phone-390.png")

	// Switching to another session keeps the first running and listed,
	// and clears what the page showed.
	if err := chromedp.Do(ctx, chromedp.SetValue("#source-input", clip), chromedp.Click(`#source-form button`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the second session on screen", fmt.Sprintf(`vidseg.sessionId !== %q && vidseg.drawn && vidseg.drawn.frame === 0 && vidseg.marks.length === 0`, first), 30*time.Second)
	if r := call(t, "GET", hs.URL+"/api/sessions/"+first, "", nil); r.status != 200 {
		t.Errorf("switching videos ended the first session: %d", r.status)
	}
	pollTrue(t, ctx, "the first session in the list", fmt.Sprintf(`document.querySelector('#session-list li[data-id=%q]')`, first), 10*time.Second)
	screenshot(t, ctx, "page-phone-switched-390.png")
}

// A file session nobody watches waits on its first frame, so a short clip
// has not ended (black player) when the first viewer comes.
func TestFileWaitsForViewer(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"loop":false}`, clip)))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)
	deadline := time.Now().Add(testutil.Patience(10 * time.Second))
	for sessionInfo(t, hs.URL, s.ID).State != "waiting for a viewer" {
		if time.Now().After(deadline) {
			t.Fatalf("session state %q, want \"waiting for a viewer\"", sessionInfo(t, hs.URL, s.ID).State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v := watch(t, hs.URL, s.ID)
	// Only the first frame matters: on a busy machine the video loop skips
	// pictures to keep the source's pace, so a short clip may deliver few.
	msgs := v.WaitMessages(t, 1, 15*time.Second)
	var m0 struct{ Frame int }
	json.Unmarshal(msgs[0], &m0)
	if m0.Frame > 3 {
		t.Errorf("the first viewer's first frame is %d, want the start of the clip", m0.Frame)
	}
}

// pollTrue is poll for any truthy expression.
// click clicks sel with real mouse events. The page re-renders lists
// (objects, sessions) on every server update, so the node found can be
// replaced before the click lands: that is retried, a missing node is not.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	for i := 0; ; i++ {
		err := chromedp.Do(ctx, chromedp.Click(sel))
		if err == nil {
			return
		}
		if i < 50 && (strings.Contains(err.Error(), "Could not find node") || strings.Contains(err.Error(), "detached")) {
			continue
		}
		t.Fatalf("click %s: %v", sel, err)
	}
}

func pollTrue(t *testing.T, ctx context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	// A deadline for a lost event, not a speed bound: at least two minutes.
	timeout = testutil.Patience(timeout)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+js+")", chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		state := eval[string](t, ctx, `JSON.stringify({conn: vidseg.connected, messages: vidseg.messages, presented: vidseg.presented, matched: vidseg.matched,
		  drawn: vidseg.drawn && {frame: vidseg.drawn.frame, objects: vidseg.drawn.objects.map(o => o.id)}, edit: vidseg.session && vidseg.session.edit,
		  prompts: vidseg.prompts, errors: vidseg.errors, lastRTP: vidseg.lastRTP, metaRTP: (vidseg.metas || []).slice(-5).map(m => [m.frame, m.streamMs, Math.round(m.streamMs*90)>>>0]), error: document.getElementById("error").textContent,
		  focus: document.activeElement && (document.activeElement.id || document.activeElement.tagName) + (document.activeElement.dataset && document.activeElement.dataset.token !== undefined ? "[token]" : "")})`)
		t.Fatalf("waiting for %s: %v; page state %s", what, err, state)
	}
}

// The edit API refuses what it cannot do with a reason, and the player
// follows play, pause and seek (no model needed).
func TestEditSessionAPI(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{})
	bad := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"mode":"scrub"}`, clip)))
	if bad.status != 400 || !strings.Contains(bad.errorText(t), `mode "scrub"`) {
		t.Errorf("unknown mode: %d %s", bad.status, bad.body)
	}
	s := createEditSession(t, hs.URL, clip)
	if s.Edit.Frames != 64 || s.Edit.Position != 0 || s.Edit.Playing {
		t.Errorf("new edit session %+v", *s.Edit)
	}
	base := hs.URL + "/api/sessions/" + s.ID
	for _, c := range []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"POST", "/player", `{"action":"seek","frame":10}`, 200, ""},
		{"POST", "/player", `{"action":"seek","frame":64}`, 400, "frames 0..63"},
		{"POST", "/player", `{"action":"rewind"}`, 400, `"rewind"`},
		{"POST", "/track", `{"direction":"sideways"}`, 400, "sideways"},
		{"POST", "/track", `{"direction":"forward"}`, 409, "no model"},
		{"POST", "/prompts", `{"object":0,"frame":3,"points":[{"x":5,"y":5,"positive":true}]}`, 409, "no model"},
		{"GET", "/results/masks.json", "", 409, "nothing tracked"},
		{"GET", "/results/secrets.txt", "", 409, "nothing tracked"},
	} {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		var r apiResult
		if body != nil {
			r = call(t, c.method, base+c.path, "application/json", body)
		} else {
			r = call(t, c.method, base+c.path, "", nil)
		}
		if r.status != c.status || (c.says != "" && !strings.Contains(r.errorText(t), c.says)) {
			t.Errorf("%s %s %s: %d %s, want %d saying %q", c.method, c.path, c.body, r.status, r.body, c.status, c.says)
		}
	}
	if in := sessionInfo(t, hs.URL, s.ID); in.Edit.Position != 10 || in.State != "paused" {
		t.Errorf("after seeking to 10: state %q, %+v", in.State, *in.Edit)
	}
	// A live session has no player.
	live := createSession(t, hs.URL, clip)
	if r := call(t, "POST", hs.URL+"/api/sessions/"+live.ID+"/player", "application/json", strings.NewReader(`{"action":"play"}`)); r.status != 409 {
		t.Errorf("player on a live session: %d %s", r.status, r.body)
	}
}
