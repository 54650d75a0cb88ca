package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 25, item 6: when the session on screen ends, the page says so,
// disables its controls, offers to reopen the video and stops polling;
// "reopen" starts a new session on the same video; when the server goes
// away the page says it cannot be reached. (Before: it polled the 404
// every 500 ms forever with the controls enabled.)
func TestPageSessionEnded(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	_, hs := newServer(t, Config{})
	s := createSession(t, hs.URL, clip)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the session on screen", `vidseg.connected && vidseg.messages > 2`, 30*time.Second)
	if r := call(t, "DELETE", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	pollTrue(t, ctx, "the ended state", `vidseg.lost === "ended" && !document.getElementById("lost").hidden && !document.getElementById("lost-reopen").hidden`, 10*time.Second)
	if !eval[bool](t, ctx, `document.getElementById("new-object").disabled`) {
		t.Errorf("the controls stay enabled on an ended session")
	}
	polls := eval[int](t, ctx, `vidseg.polls`)
	refreshes := eval[int](t, ctx, `vidseg.refreshes`)
	// A list refresh comes every 3 s; the session was polled every 0.5 s.
	pollTrue(t, ctx, "two list refreshes", fmt.Sprintf(`vidseg.refreshes >= %d`, refreshes+2), 15*time.Second)
	if n := eval[int](t, ctx, `vidseg.polls`); n != polls {
		t.Errorf("the page polled the ended session %d more times", n-polls)
	}
	screenshot(t, ctx, "page-session-ended-1280.png")

	click(t, ctx, `#lost-reopen`)
	pollTrue(t, ctx, "the reopened video", fmt.Sprintf(`vidseg.sessionId && vidseg.sessionId !== %q && vidseg.connected && !vidseg.lost && document.getElementById("lost").hidden && !document.getElementById("new-object").disabled`, s.ID), 30*time.Second)

	hs.Close()
	pollTrue(t, ctx, "the unreachable state", `vidseg.lost === "unreachable" && !document.getElementById("lost-retry").hidden`, 15*time.Second)
	screenshot(t, ctx, "page-server-unreachable-1280.png")
}
