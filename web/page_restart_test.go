package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/journal"
	"github.com/vidseg/vidseg/store"
)

// journaledServer starts a server as `vidseg serve` with a store: edit
// sessions journaled in the store at path, listening on addr ("" for
// any port). The returned stop closes the server and then the store, as
// the process does when it exits.
func journaledServer(t *testing.T, cfg Config, path, addr string) (srv *Server, hs *httptest.Server, stop func()) {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg.JournalFile = journal.FileTrackers(st, cfg.Logger, journal.Settings{})
	if cfg.Sources.MediaRoot == "" {
		cfg.Sources.MediaRoot = filepath.Join(testutil.RepoRoot(t), "testdata", "videos")
	}
	srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs = httptest.NewUnstartedServer(srv)
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return srv, hs, stop
}

// Issue 25: an edit session survives a real restart (the server and its
// store closed, a new server opened on the same store and address, the
// session resumed as `serve --resume` does): the page, reconnected and
// then reloaded, shows the same objects, clicks, tracked and stale frames
// (a stale frame still with its masks) and zones, and redo is still
// there. (Before: the redo stack and an edit session's zones were not
// stored, and the stale frames were deleted from the store, so the page
// showed fewer frames after the restart than before.)
func TestPageRestartResume(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	cfg, withModel := fixtureConfig(t, Config{})
	if !withModel {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	path := filepath.Join(t.TempDir(), "vidseg.db")
	_, hs, stop := journaledServer(t, cfg, path, "")
	s := createEditSession(t, hs.URL, clip)
	base := hs.URL + "/api/sessions/" + s.ID
	viewport(t, ctx, 1280, 800, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the first frame on screen", `vidseg.connected && vidseg.drawn && vidseg.session && vidseg.session.edit`, 30*time.Second)
	post := func(path, body string, want int) {
		t.Helper()
		if r := call(t, "POST", base+path, "application/json", strings.NewReader(body)); r.status != want {
			t.Fatalf("POST %s %s: %d %s", path, body, r.status, r.body)
		}
	}
	promptAt := func(object, frame int, x float64) {
		t.Helper()
		post("/prompts", fmt.Sprintf(`{"object":%d,"frame":%d,"points":[{"x":%g,"y":120,"positive":true}]}`, object, frame, x), 200)
	}
	// A pass from frame 58, a correction on 61 (the others stale), a
	// second object on 60, undone (redo can bring it back), and a zone.
	promptAt(0, 58, 160)
	post("/track", `{"direction":"forward"}`, 202)
	pollTrue(t, ctx, "the pass to finish", `vidseg.session.edit.tracking === undefined && vidseg.session.edit.doneCount === 6`, modelWait)
	promptAt(1, 61, 150)
	promptAt(0, 60, 60)
	post("/undo", `{}`, 200)
	if r := call(t, "PUT", base+"/zones", "application/json", strings.NewReader(`{"zones":[{"name":"door","polygon":[{"x":10,"y":10},{"x":120,"y":10},{"x":120,"y":100}]}],"lines":[]}`)); r.status != 200 {
		t.Fatalf("PUT zones: %d %s", r.status, r.body)
	}
	// What the page shows, read from the page: the drawn timeline and
	// clicks, the redo button, the zones it draws.
	const shown = `JSON.stringify({objects: vidseg.session.objects, clicks: vidseg.marks.filter(k => k.status === "done").map(k => [k.object, k.frame, k.x, k.y]),
	  done: vidseg.timelineDone(), stale: vidseg.timelineStale(), redo: vidseg.session.edit.redo, redoEnabled: !document.getElementById("redo").disabled,
	  zones: vidseg.zones.geo.zones.map(z => z.name)})`
	// The page reads the zones when it opens a session: reload it.
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the undone click and the zone on the page", `vidseg.connected && vidseg.drawn && vidseg.session && vidseg.session.edit && vidseg.session.edit.redo && !document.getElementById("redo").disabled && vidseg.zones.geo.zones.length === 1 && vidseg.timelineStale().length === 5`, 30*time.Second)
	before := eval[string](t, ctx, shown)
	t.Logf("before the restart: %s", before)
	for _, want := range []string{`"objects":[1]`, `"stale":[58,59,61,62,63]`, `"done":[60]`, `"zones":["door"]`, `"redo":"click on object 2, frame 60"`} {
		if !strings.Contains(before, want) {
			t.Fatalf("before the restart the page shows %s, want %s in it", before, want)
		}
	}
	screenshot(t, ctx, "page-restart-before-1280.png")

	// The restart: the server and the store close; the page says so.
	addr := hs.Listener.Addr().String()
	stop()
	pollTrue(t, ctx, "the unreachable state", `vidseg.lost === "unreachable"`, 15*time.Second)
	srv2, _, _ := journaledServer(t, cfg, path, addr)
	if _, err := srv2.ResumeEdit(context.Background(), s.ID, clip); err != nil {
		t.Fatal(err)
	}

	// "Reconnect", then a reload: the same state, from the new server.
	click(t, ctx, `#lost-retry`)
	pollTrue(t, ctx, "the page reconnected", `vidseg.connected && !vidseg.lost && vidseg.session && vidseg.session.edit`, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "the reloaded page with the resumed session", fmt.Sprintf(`vidseg.connected && vidseg.drawn && vidseg.session && vidseg.session.edit && vidseg.zones.geo.zones.length === 1 && (%s) === %q`, shown, before), 30*time.Second)
	screenshot(t, ctx, "page-restart-after-1280.png")
	// A stale frame still has its masks.
	post("/player", `{"action":"seek","frame":63}`, 200)
	pollTrue(t, ctx, "the stale frame 63 with its masks after the restart", `vidseg.drawn && vidseg.drawn.frame === 63 && vidseg.drawn.objects.length > 0`, 30*time.Second)
	// Redo (shift+z) brings object 2 back.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("Z")); err != nil {
		t.Fatal(err)
	}
	pollTrue(t, ctx, "redo after the restart", `vidseg.session.objects.join() === "1,2" && !vidseg.session.edit.redo`, modelWait)
}
