package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 25, item 1: a session outlives the tab. The page puts the
// session in its address; switching to another video keeps the first one
// listed and running; closing one from the list is undoable; leaving the
// page ends nothing, and the idle timeout still ends the sessions nobody
// returns to. (Before: the page deleted its sessions on switching and on
// leaving, and its address never named the session.)
func TestBrowserSessionsOutliveThePage(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	const idle = 3 * time.Second
	s, hs := newServer(t, Config{PauseAfter: 300 * time.Millisecond, IdleTimeout: idle})
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	open := fmt.Sprintf(`(() => { document.getElementById("source-input").value = %q;
	  document.getElementById("source-form").requestSubmit(); return true; })()`, clip)
	eval[bool](t, ctx, open)
	poll(t, ctx, "the first session to play", `window.vidseg && vidseg.connected && vidseg.messages > 2`, 30*time.Second)
	first := eval[string](t, ctx, `vidseg.sessionId`)
	if q := eval[string](t, ctx, `location.search`); !strings.Contains(q, "session="+first) {
		t.Errorf("the page's address %q does not name its session %s", q, first)
	}
	eval[bool](t, ctx, open)
	poll(t, ctx, "the second session to play", fmt.Sprintf(`vidseg.sessionId !== %q && vidseg.connected`, first), 30*time.Second)
	second := eval[string](t, ctx, `vidseg.sessionId`)
	poll(t, ctx, "both sessions listed", fmt.Sprintf(`!!document.querySelector('#session-list li[data-id=%q]') && !!document.querySelector('#session-list li[data-id=%q]')`, first, second), 10*time.Second)
	if _, ok := s.m.Get(first); !ok {
		t.Fatalf("switching videos ended the first session")
	}

	// Close the first from the list, then undo: it stays.
	eval[bool](t, ctx, `(vidseg.closeDelay = 60000, true)`)
	click(t, ctx, fmt.Sprintf(`#session-list li[data-id=%q] button.close`, first))
	poll(t, ctx, "the undo offer", fmt.Sprintf(`!document.getElementById("toast").hidden && !document.querySelector('#session-list li[data-id=%q]')`, first), 5*time.Second)
	click(t, ctx, `#toast-undo`)
	poll(t, ctx, "the first session listed again", fmt.Sprintf(`document.getElementById("toast").hidden && !!document.querySelector('#session-list li[data-id=%q]')`, first), 10*time.Second)
	if _, ok := s.m.Get(first); !ok {
		t.Fatalf("an undone close ended the session")
	}
	// Close it for good (a short undo window).
	eval[bool](t, ctx, `(vidseg.closeDelay = 100, true)`)
	click(t, ctx, fmt.Sprintf(`#session-list li[data-id=%q] button.close`, first))
	waitSessions(t, s, "the closed session to end", []string{second})

	// Reloading comes back to the session in the address.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the reloaded page to re-attach", fmt.Sprintf(`window.vidseg && vidseg.sessionId === %q && vidseg.connected && vidseg.messages > 0`, second), 30*time.Second)

	// Leaving ends nothing; once nobody watches, the idle timeout does.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	deadline := left.Add(testutil.Patience(10 * time.Second))
	for {
		ss, ok := s.m.Get(second)
		if !ok {
			t.Fatalf("leaving the page ended its session at once")
		}
		if ss.Status().Viewers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's viewer is still attached after it left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitSessions(t, s, "the idle timeout to end the unwatched session", nil)
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
