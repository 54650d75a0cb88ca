package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
)

// axePath is where scripts/setup.sh (make setup) installs axe-core.
const axePath = "third_party/node/axe-core/axe.min.js"

// axeSource is axe-core's script, "" when it is not installed.
func axeSource(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), axePath))
	if err != nil {
		return ""
	}
	return string(b)
}

// axeCheck runs axe-core in the page and fails on serious or critical
// violations; without axe-core (src "") it does nothing.
func axeCheck(t *testing.T, ctx context.Context, src, what string) {
	t.Helper()
	if src == "" {
		return
	}
	if !eval[bool](t, ctx, `!!window.axe`) {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](src+"\n;true")); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	js := `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	  .filter(v => v.impact === "serious" || v.impact === "critical")
	  .map(v => v.impact + " " + v.id + ": " + v.help + " [" + v.nodes.slice(0, 4).map(n => n.target.join(" ")).join("; ") + "]"))`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core on %s: %v", what, err)
	}
	for _, s := range v {
		t.Errorf("axe-core, %s: %s", what, s)
	}
	t.Logf("axe-core, %s: %d serious or critical violations", what, len(v))
}

// tap touches the page at (x, y) as a finger does.
func tap(t *testing.T, ctx context.Context, x, y float64) {
	t.Helper()
	touch := func(typ input.DispatchTouchEventType, pts []*input.TouchPoint) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts})
			return err
		})
	}
	if err := chromedp.Do(ctx, touch(input.DispatchTouchEventTypeTouchStart, []*input.TouchPoint{{X: x, Y: y}}), touch(input.DispatchTouchEventTypeTouchEnd, []*input.TouchPoint{})); err != nil {
		t.Fatal(err)
	}
}

// phoneLayout lists what breaks the phone layout: an element reaching out
// of the viewport (sideways scrolling), or a control whose touch target
// (its label when it has one) is under 44x44 px.
func phoneLayout(t *testing.T, ctx context.Context) (wide, small []string) {
	t.Helper()
	r := eval[[][]string](t, ctx, `(() => {
	  const W = document.documentElement.clientWidth, wide = [], small = [];
	  const desc = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.getAttribute("aria-label") ? "[" + el.getAttribute("aria-label") + "]" : "") + (el.textContent ? " " + JSON.stringify(el.textContent.trim().slice(0, 20)) : "");
	  if (document.documentElement.scrollWidth > W) wide.push("document scrollWidth " + document.documentElement.scrollWidth + " > " + W);
	  for (const el of document.querySelectorAll("body *")) {
	    const b = el.getBoundingClientRect();
	    if (!b.width || el.closest(".sr-only")) continue;
	    if (b.right > W + 0.5 || b.left < -0.5) wide.push(desc(el) + " spans " + Math.round(b.left) + ".." + Math.round(b.right));
	  }
	  for (const el of document.querySelectorAll("button, select, input, summary, a[href], textarea")) {
	    const b = (el.closest("label") || el).getBoundingClientRect();
	    if (!b.width && !b.height) continue; // not shown
	    if (b.width < 44 || b.height < 44) small.push(desc(el) + " " + Math.round(b.width) + "x" + Math.round(b.height));
	  }
	  return [wide, small];
	})()`)
	return r[0], r[1]
}

// Issue 25, items 7 and 8, in Chromium with the fixture model: at 390x844
// (mobile, touch) nothing reaches out of the viewport (the objects are
// cards), every control's touch target is at least 44x44 px, the gesture
// hint shows until it has been used and then no more, and segmenting a
// tap shifts no layout (cumulative layout shift from a PerformanceObserver
// of 'layout-shift', not counting the shift right after the tap); at
// 1280x800 the developer status line is out of the main view (in the
// closed "Connection details"). axe-core finds no serious or critical
// violation on the empty, editing and tracked states at both sizes.
// (Before: the object table was 566 px wide on a phone, buttons 31 px,
// checkboxes 13 px, the hint hidden, the status line grew while
// segmenting; unlabeled checkboxes, colour pickers and sliders, and every
// remove button read "remove".)
func TestPagePhoneAccessible(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	axe := axeSource(t)
	ctx := browser(t)
	cfg, withModel := fixtureConfig(t, Config{})
	if !withModel {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	viewport(t, ctx, 390, 844, true)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the page", `!!vidseg.info`, 10*time.Second)
	axeCheck(t, ctx, axe, "empty page at 390 px")

	s := createEditSession(t, hs.URL, clip)
	last := s.Edit.Frames - 1
	// Start on the next-to-last frame: a forward pass tracks two frames.
	if r := call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/player", "application/json", strings.NewReader(fmt.Sprintf(`{"action":"seek","frame":%d}`, last-1))); r.status != 200 {
		t.Fatalf("seek: %d %s", r.status, r.body)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the frame on screen", fmt.Sprintf(`vidseg.connected && vidseg.drawn && vidseg.drawn.frame === %d`, last-1), 30*time.Second)
	if !eval[bool](t, ctx, `!document.getElementById("hint").hidden && document.getElementById("hint").getBoundingClientRect().height > 0`) {
		t.Errorf("the gesture hint is not shown on a phone before the first tap")
	}
	wide, small := phoneLayout(t, ctx)
	if len(wide) > 0 || len(small) > 0 {
		t.Errorf("at 390 px before a tap: out of the viewport %v; touch targets under 44 px %v", wide, small)
	}

	// Layout shift while segmenting: from after the tap (whose own
	// shifts within 500 ms the browser marks as input-driven) until the
	// answer is shown and polled again.
	eval[bool](t, ctx, `(window.__cls = 0, window.__shifts = [], new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) {
	  __cls += e.value; __shifts.push(e.value.toFixed(4) + " " + (e.sources || []).map(s => s.node ? (s.node.id || s.node.nodeName) : "?").join(",")); } }).observe({type: "layout-shift"}), true)`)
	ov := rect(t, ctx, "#overlay")
	tap(t, ctx, ov[0]+0.5*ov[2], ov[1]+0.5*ov[3])
	pollTrue(t, ctx, "the tap segmented", `vidseg.prompts >= 1 && vidseg.session.edit.clicks.length === 1 && !vidseg.session.busy && vidseg.marks.every(k => k.status === "done")`, modelWait)
	polls := eval[int](t, ctx, `vidseg.polls`)
	pollTrue(t, ctx, "two more polls", fmt.Sprintf(`vidseg.polls >= %d`, polls+2), 10*time.Second)
	cls := eval[float64](t, ctx, `__cls`)
	t.Logf("cumulative layout shift while segmenting at 390 px: %.4f %v", cls, eval[[]string](t, ctx, `__shifts`))
	if cls > 0.001 {
		t.Errorf("layout shifted while segmenting: CLS %.4f (%v)", cls, eval[[]string](t, ctx, `__shifts`))
	}
	// The measurement itself: a shift nobody asked for is seen.
	eval[bool](t, ctx, `(() => { const d = document.createElement("div"); d.id = "shift-probe"; d.style.height = "80px"; document.getElementById("player").prepend(d); return true; })()`)
	pollTrue(t, ctx, "the observer to see a probe shift", `__cls > 0`, 10*time.Second)
	eval[bool](t, ctx, `(document.getElementById("shift-probe").remove(), true)`)
	wide, small = phoneLayout(t, ctx)
	if len(wide) > 0 || len(small) > 0 {
		t.Errorf("at 390 px with an object: out of the viewport %v; touch targets under 44 px %v", wide, small)
	}
	if n := eval[int](t, ctx, `new Set(Array.from(document.querySelectorAll("#objects button")).map(b => b.getAttribute("aria-label") || b.textContent)).size === document.querySelectorAll("#objects button").length ? 0 : 1`); n != 0 {
		t.Errorf("two buttons of the object cards have the same accessible name")
	}
	screenshot(t, ctx, "page-phone-object-390.png")
	axeCheck(t, ctx, axe, "editing at 390 px")

	click(t, ctx, `#track-controls [data-dir="forward"]`)
	pollTrue(t, ctx, "the forward pass", `vidseg.session.edit.doneCount === 2 && !vidseg.session.edit.tracking`, modelWait)
	screenshot(t, ctx, "page-phone-tracked-390.png")
	axeCheck(t, ctx, axe, "tracked at 390 px")

	// Desktop: no developer status line in the main view.
	viewport(t, ctx, 1280, 800, false)
	pollTrue(t, ctx, "the desktop layout", `document.getElementById("stage").getBoundingClientRect().width > 500`, 10*time.Second)
	if eval[bool](t, ctx, `document.getElementById("stats").checkVisibility() || document.getElementById("debug").open`) {
		t.Errorf("the developer status line shows in the main view at 1280 px")
	}
	screenshot(t, ctx, "page-tracked-1280-details-closed.png")
	axeCheck(t, ctx, axe, "tracked at 1280 px")
	if r := call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/player", "application/json", strings.NewReader(`{"action":"seek","frame":0}`)); r.status != 200 {
		t.Fatalf("seek: %d %s", r.status, r.body)
	}
	pollTrue(t, ctx, "an untracked frame", `vidseg.drawn.frame === 0 && document.querySelector("#objects tbody").textContent.includes("not tracked yet")`, 30*time.Second)
	axeCheck(t, ctx, axe, "editing at 1280 px")

	// The hint has been used: it shows no more.
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the page", `!!vidseg.info`, 10*time.Second)
	if !eval[bool](t, ctx, `document.getElementById("hint").hidden`) {
		t.Errorf("the gesture hint shows again after it was used")
	}
	axeCheck(t, ctx, axe, "empty page at 1280 px")
	if axe == "" {
		t.Skipf("axe-core not installed at %s (make setup installs it): the accessibility checks did not run; the rest passed", axePath)
	}
}
