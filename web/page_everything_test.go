package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Issue 27 in the page: after a click the other masks of that click are
// shown as thumbnails with their predicted IoU, and choosing one (a
// thumbnail, or c to cycle) makes it the object's mask; "Segment
// everything" lists each mask found as an object, and removing one drops
// it.
func TestPageCandidatesAndEverything(t *testing.T) {
	ctx, hs, s := editPage(t)
	pollTrue(t, ctx, "the first frame on screen", `vidseg.connected && vidseg.drawn && vidseg.drawn.frame === 0 && vidseg.session && vidseg.session.edit`, 30*time.Second)

	// moving_shape's ellipse is near (60,70) of 320x240 on frame 0.
	clickOverlay(t, ctx, 60.0/320, 70.0/240)
	pollTrue(t, ctx, "the click's masks listed", `vidseg.candidates && vidseg.candidates.list.length >= 2 && !document.getElementById("candidates").hidden &&
		document.querySelectorAll("#candidate-list button").length === vidseg.candidates.list.length &&
		document.querySelectorAll("#candidate-list button[aria-pressed=true]").length === 1`, modelWait)
	labels := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#candidate-list button")).map(b => b.getAttribute("aria-label"))`)
	t.Logf("candidates: %v", labels)
	for _, l := range labels {
		if !strings.Contains(l, "predicted IoU") {
			t.Errorf("candidate %q does not say its predicted IoU", l)
		}
	}
	screenshot(t, ctx, "page-candidates-1280.png")

	// Choose one the tracker did not: it is the one in use afterwards,
	// and the object's mask is that candidate.
	want := eval[int](t, ctx, `+document.querySelector("#candidate-list button[aria-pressed=false]").dataset.token`)
	if err := chromedp.Do(ctx, chromedp.Click(`#candidate-list button[aria-pressed=false]`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the chosen mask in use", `document.querySelector("#candidate-list button[aria-pressed=true]").dataset.token === "`+strconv.Itoa(want)+`" &&
		vidseg.candidates.list.find(c => c.chosen).token === `+strconv.Itoa(want), modelWait)
	info := sessionInfo(t, hs.URL, s.ID)
	if info.Edit.Undo != "candidate "+strconv.Itoa(want)+" on object 1, frame 0" {
		t.Errorf("undo would take back %q, want the pick of candidate %d", info.Edit.Undo, want)
	}
	// c cycles to the next one.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("c")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "c to pick the next mask", `vidseg.candidates.list.find(c => c.chosen).token !== `+strconv.Itoa(want), modelWait)

	// Segment everything on the frame shown.
	eval[bool](t, ctx, `(vidseg.everythingParams = {pointsPerSide: 6, boxNmsThresh: 1, predIouThresh: 0.5, stabilityScoreThresh: 0.7, stabilityScoreOffset: 0.02, overlap: 1, maxObjects: 3}, true)`)
	if err := chromedp.Do(ctx, chromedp.Click(`#everything`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "segment everything's objects listed", `vidseg.everything && vidseg.everything.added.length === 3 &&
		vidseg.everything.added.every(a => document.querySelector('#objects tbody tr[data-id="' + a.object + '"]')) &&
		!document.getElementById("notice").hidden && /new objects/.test(document.getElementById("notice-text").textContent)`, modelWait)
	screenshot(t, ctx, "page-everything-1280.png")
	added := eval[[]int](t, ctx, `vidseg.everything.added.map(a => a.object)`)
	// Drop one: it leaves the list and the session.
	drop := added[len(added)-1]
	if err := chromedp.Do(ctx, chromedp.Click(`#objects tbody tr[data-id="`+strconv.Itoa(drop)+`"] button[aria-label^="remove"]`)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the dropped object gone", `!document.querySelector('#objects tbody tr[data-id="`+strconv.Itoa(drop)+`"]')`, modelWait)
	for _, p := range sessionInfo(t, hs.URL, s.ID).Edit.Prompts {
		if p.Object == drop {
			t.Errorf("object %d removed in the page is still prompted: %+v", drop, p)
		}
	}
}
