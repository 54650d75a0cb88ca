package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 25, item 5, in Chromium with the fixture model: the keyboard
// shortcuts (a "?" list, space, arrows, z, shift+z, delete), undo and
// redo of clicks, clearing an object ("start over") and an undoable
// removal, the clicks on the picture following each. (Before: none of
// these existed; a wrong click could only be fixed by removing the whole
// object.)
func TestPageUndoShortcuts(t *testing.T) {
	ctx, hs, s := editPage(t)
	pollTrue(t, ctx, "the first frame on screen", `vidseg.connected && vidseg.drawn && vidseg.drawn.frame === 0 && vidseg.session && vidseg.session.edit`, 30*time.Second)
	key := func(k string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	// "?" lists the shortcuts; Escape closes the list.
	key("?")
	pollTrue(t, ctx, "the shortcuts list", `!document.getElementById("shortcuts").hidden && document.getElementById("shortcuts").textContent.includes("undo")`, 5*time.Second)
	screenshot(t, ctx, "page-shortcuts-1280.png")
	key(kb.Escape)
	pollTrue(t, ctx, "the list closed", `document.getElementById("shortcuts").hidden`, 5*time.Second)
	// Space plays and pauses; the arrows step frames. Space on a focused
	// button is that button's (the browser's rule, kept by the page):
	// nothing is focused here, whatever closing the list gave focus back to.
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	key(" ")
	pollTrue(t, ctx, "space to play", `vidseg.session.edit.playing`, 10*time.Second)
	key(" ")
	pollTrue(t, ctx, "space to pause", `!vidseg.session.edit.playing`, 10*time.Second)
	key(kb.Home)
	pollTrue(t, ctx, "Home to frame 0", `vidseg.session.edit.position === 0 && vidseg.drawn.frame === 0`, 10*time.Second)
	// One key at a time: each step is answered by the server before the
	// next (a key pressed before the answer steps from the frame shown).
	key(kb.ArrowRight)
	pollTrue(t, ctx, "the right arrow to step to frame 1", `vidseg.session.edit.position === 1 && vidseg.drawn.frame === 1`, 10*time.Second)
	key(kb.ArrowRight)
	pollTrue(t, ctx, "the right arrow to step to frame 2", `vidseg.session.edit.position === 2 && vidseg.drawn.frame === 2`, 10*time.Second)
	key(kb.ArrowLeft)
	pollTrue(t, ctx, "the left arrow to step back to frame 1", `vidseg.session.edit.position === 1 && vidseg.drawn.frame === 1`, 10*time.Second)

	// Two clicks on object 1.
	st := rect(t, ctx, "#overlay")
	clickAt := func(fx, fy float64, n int) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.MouseClickXY(st[0]+fx*st[2], st[1]+fy*st[3])); err != nil {
			t.Fatal(err)
		}
		pollTrue(t, ctx, fmt.Sprintf("click %d answered and listed by the server", n), fmt.Sprintf(`vidseg.prompts >= %d && vidseg.session.edit.clicks.length === %d`, n, n), modelWait)
	}
	clickAt(0.5, 0.5, 1)
	clickAt(0.3, 0.6, 2)
	doneMarks := `vidseg.marks.filter(k => k.status === "done").length`
	pollTrue(t, ctx, "two clicks drawn", doneMarks+` === 2`, 10*time.Second)

	// z undoes the second click, shift+z redoes it.
	key("z")
	pollTrue(t, ctx, "z to undo the second click", `vidseg.session.edit.clicks.length === 1 && `+doneMarks+` === 1 && !!vidseg.session.edit.redo && !document.getElementById("redo").disabled`, modelWait)
	screenshot(t, ctx, "page-undone-1280.png")
	key("Z")
	pollTrue(t, ctx, "shift+z to redo it", `vidseg.session.edit.clicks.length === 2 && `+doneMarks+` === 2 && !vidseg.session.edit.redo`, modelWait)

	// Clear (start over): no clicks, the object still listed and selected.
	click(t, ctx, `#objects tr[data-id="1"] button[aria-label="clear object 1's clicks"]`)
	pollTrue(t, ctx, "object 1 cleared", `vidseg.session.edit.clicks.length === 0 && `+doneMarks+` === 0 && vidseg.session.objects.join() === "1" && vidseg.selected === 1`, modelWait)
	// Undo through the API; the page follows.
	if r := call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/undo", "application/json", nil); r.status != 200 {
		t.Fatalf("POST undo: %d %s", r.status, r.body)
	}
	pollTrue(t, ctx, "the clear undone", `vidseg.session.edit.clicks.length === 2 && `+doneMarks+` === 2`, 10*time.Second)

	// Delete removes the selected object, with an undo offer.
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	key(kb.Delete)
	pollTrue(t, ctx, "Delete to remove object 1", `vidseg.session.objects.length === 0 && `+doneMarks+` === 0 && !document.getElementById("notice").hidden`, modelWait)
	screenshot(t, ctx, "page-removed-undo-1280.png")
	click(t, ctx, `#notice-undo`)
	pollTrue(t, ctx, "the removal undone", `vidseg.session.objects.join() === "1" && vidseg.session.edit.clicks.length === 2 && `+doneMarks+` === 2 && vidseg.session.edit.redo === "remove object 1" && vidseg.selected === 1`, modelWait)

	// Item 8, effects in the page: the mask canvas over the video, measured
	// against the RLE of the frame on screen (inside: pixels whose four
	// neighbours are in a mask too; the outline is on the others).
	pollTrue(t, ctx, "object 1's mask on screen", `vidseg.shown.objects.some(o => o.id === 1 && o.present && o.rle)`, 30*time.Second)
	for _, c := range []struct{ effect, inside, outside string }{
		{"erase", "a === 0", "a === 255 && r + g + b === 0"},
		{"desaturate", "a === 0", "a === 255 && Math.abs(r - g) <= 2 && Math.abs(g - b) <= 2"},
		{"blur", "a === 0", "a === 255"},
		{"outline", "a === 0", "a === 0"},
		{"highlight", "a > 0", "a === 0"},
	} {
		if err := chromedp.Do(ctx, chromedp.SetValue("#effect", c.effect)); err != nil {
			t.Fatal(err)
		}
		// The frame on screen can change under the measurement (the undo
		// replays the object's prompts one by one, each shown): wait for a
		// frame drawn with this effect that measures right, then log it.
		measure := fmt.Sprintf(`((effect) => {
		  document.getElementById("effect").dispatchEvent(new Event("change"));
		  const cv = document.getElementById("masks"), w = cv.width, h = cv.height;
		  const d = cv.getContext("2d").getImageData(0, 0, w, h).data, in1 = new Uint8Array(w * h);
		  for (const o of vidseg.shown.objects) if (o.present && o.rle && !vidseg.hidden.has(o.id)) { const m = vidseg.decodeRLE(o.rle); for (let i = 0; i < m.length; i++) if (m[i]) in1[i] = 1; }
		  let inN = 0, inOK = 0, outN = 0, outOK = 0;
		  for (let y = 1; y < h - 1; y++) for (let x = 1; x < w - 1; x++) {
		    const i = y * w + x, r = d[4 * i], g = d[4 * i + 1], b = d[4 * i + 2], a = d[4 * i + 3];
		    if (in1[i] && in1[i - 1] && in1[i + 1] && in1[i - w] && in1[i + w]) { inN++; if (%s) inOK++; }
		    else if (!in1[i]) { outN++; if (%s) outOK++; }
		  }
		  return (window.__effect = [inN, inOK, outN, outOK, vidseg.drawn.effect === effect ? 1 : 0]);
		})(%q)`, c.inside, c.outside, c.effect)
		ok := true
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const r = `+measure+`; return r[4] === 1 && r[0] > 0 && r[2] > 0 && r[1] === r[0] && r[3] === r[2]; })()`,
			chromedp.WithPollingTimeout(testutil.Patience(30*time.Second)), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			ok = false
		}
		got := eval[[]float64](t, ctx, `window.__effect`)
		t.Logf("effect %s: inside %v of %v as expected, outside %v of %v", c.effect, got[1], got[0], got[3], got[2])
		if !ok {
			t.Errorf("effect %s: no frame drawn with it measured right; the last: inside %v of %v pixels as expected (%s), outside %v of %v (%s), drawn with it %v", c.effect, got[1], got[0], c.inside, got[3], got[2], c.outside, got[4] == 1)
		}
		if c.effect == "desaturate" {
			screenshot(t, ctx, "page-effect-desaturate-1280.png")
		}
	}
	if errs := eval[[]string](t, ctx, `vidseg.errors`); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
