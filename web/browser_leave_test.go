package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 10, item 5: the page deletes the sessions it created when it
// switches to another and when it is left.
func TestBrowserDeletesItsSessions(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	s, hs := newServer(t, Config{})
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	open := fmt.Sprintf(`(() => { document.getElementById("source-input").value = %q;
	  document.getElementById("source-form").requestSubmit(); return true; })()`, clip)
	eval[bool](t, ctx, open)
	poll(t, ctx, "the first session to play", `window.vidseg && vidseg.connected && vidseg.messages > 2`, 30*time.Second)
	first := eval[string](t, ctx, `vidseg.sessionId`)
	eval[bool](t, ctx, open)
	poll(t, ctx, "the second session to play", fmt.Sprintf(`vidseg.sessionId !== %q && vidseg.connected`, first), 30*time.Second)
	second := eval[string](t, ctx, `vidseg.sessionId`)
	waitSessions(t, s, "the first session to be deleted on switching", []string{second})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, s, "the page's session to be deleted when it is left", nil)
}

func waitSessions(t *testing.T, s *Server, what string, want []string) {
	t.Helper()
	deadline := time.Now().Add(testutil.Patience(15 * time.Second))
	for {
		var ids []string
		for _, info := range s.Sessions() {
			ids = append(ids, info.ID)
		}
		if fmt.Sprint(ids) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: sessions %v, want %v", what, ids, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
