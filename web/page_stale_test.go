package web

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Issue 25, item 3: a correction after a pass keeps the old results
// shown, marked stale on the timeline, until the next pass replaces them;
// the pass shows its own progress and the picture follows it to its last
// frame; a pass with no prompt changed since recomputes nothing. (Before:
// a correction wiped every other frame's results, and every pass
// recomputed everything.)
func TestPageCorrectionStale(t *testing.T) {
	ctx, hs, s := editPage(t)
	base := hs.URL + "/api/sessions/" + s.ID
	pollTrue(t, ctx, "the first frame on screen", `vidseg.connected && vidseg.drawn && vidseg.session && vidseg.session.edit`, 30*time.Second)
	eval[bool](t, ctx, `(vidseg.passes = [], vidseg.onEdit = (e) => { if (e.pass) vidseg.passes.push(e.pass); }, true)`)
	// object 0 starts object 1; object 1 corrects it.
	promptAt := func(object, frame int, x float64) {
		t.Helper()
		body := fmt.Sprintf(`{"object":%d,"frame":%d,"points":[{"x":%g,"y":120,"positive":true}]}`, object, frame, x)
		if r := call(t, "POST", base+"/prompts", "application/json", strings.NewReader(body)); r.status != 200 {
			t.Fatalf("prompt on frame %d: %d %s", frame, r.status, r.body)
		}
	}
	track := func() {
		t.Helper()
		if r := call(t, "POST", base+"/track", "application/json", strings.NewReader(`{"direction":"forward"}`)); r.status != 202 {
			t.Fatalf("track: %d %s", r.status, r.body)
		}
	}
	const first = 58
	promptAt(0, first, 160)
	track()
	pollTrue(t, ctx, "the first pass to finish", `vidseg.session.edit.tracking === undefined && vidseg.session.edit.doneCount === 6`, modelWait)
	info := sessionInfo(t, hs.URL, s.ID)
	if info.Edit.Position != 63 {
		t.Errorf("after a pass from frame %d the player is on frame %d, want the pass's last frame 63 (the picture follows the pass)", first, info.Edit.Position)
	}
	passes := eval[[]map[string]float64](t, ctx, `vidseg.passes`)
	for _, p := range passes {
		if p["total"] != 6 || p["done"] > 6 {
			t.Errorf("the pass's progress %v, want done <= total = 6", p)
		}
	}
	t.Logf("progress seen by the page: %v", passes)

	// A correction on frame 61: the other frames stay, stale.
	promptAt(1, 61, 150)
	pollTrue(t, ctx, "the stale frames on the timeline", `vidseg.timelineStale().length === 5`, 30*time.Second)
	stale, done := eval[[]int](t, ctx, `vidseg.timelineStale()`), eval[[]int](t, ctx, `vidseg.timelineDone()`)
	if !slices.Equal(stale, []int{58, 59, 60, 62, 63}) || !slices.Equal(done, []int{61}) {
		t.Errorf("after a correction on frame 61 the timeline shows stale %v, fresh %v; want stale 58-60, 62-63, fresh 61", stale, done)
	}
	if r := call(t, "POST", base+"/player", "application/json", strings.NewReader(`{"action":"seek","frame":63}`)); r.status != 200 {
		t.Fatalf("seek: %d %s", r.status, r.body)
	}
	pollTrue(t, ctx, "the stale frame 63 with its masks", `vidseg.drawn.frame === 63 && vidseg.drawn.objects.length > 0`, 30*time.Second)
	screenshot(t, ctx, "page-stale-1280.png")

	// The next pass replaces them; one more with nothing changed
	// recomputes nothing.
	track()
	pollTrue(t, ctx, "the second pass to finish", `vidseg.session.edit.tracking === undefined && vidseg.session.edit.doneCount === 6 && vidseg.session.edit.stale.length === 0`, modelWait)
	modelFrames := sessionInfo(t, hs.URL, s.ID).ModelFrames
	track()
	after := sessionInfo(t, hs.URL, s.ID)
	if after.Edit.Tracking != "" || after.ModelFrames != modelFrames || after.Edit.DoneCount != 6 {
		t.Errorf("a pass with no prompt changed: tracking %q, model frames %d -> %d, done %d; want nothing recomputed", after.Edit.Tracking, modelFrames, after.ModelFrames, after.Edit.DoneCount)
	}

	// Item 4: on a frame no pass reached, the object is still listed
	// ("not tracked yet") and can be chosen as the target of the next click.
	if r := call(t, "POST", base+"/player", "application/json", strings.NewReader(`{"action":"seek","frame":10}`)); r.status != 200 {
		t.Fatalf("seek: %d %s", r.status, r.body)
	}
	eval[bool](t, ctx, `(vidseg.selected = 0, document.getElementById("new-object").click(), true)`)
	pollTrue(t, ctx, "object 1 listed as not tracked on frame 10", `vidseg.drawn.frame === 10 && Array.from(document.querySelectorAll("#objects tbody tr")).some(r => r.dataset.id === "1" && r.textContent.includes("not tracked yet"))`, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.SetValue("#target", "1")); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `document.getElementById("target").dispatchEvent(new Event("change"))`)
	pollTrue(t, ctx, "object 1 chosen for the next click", `vidseg.selected === 1 && document.querySelector("#objects tr.selected").dataset.id === "1"`, 5*time.Second)
	screenshot(t, ctx, "page-untracked-frame-1280.png")
}
