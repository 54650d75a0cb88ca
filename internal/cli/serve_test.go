package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/journal"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

// Issue 24, item 4: sessions opened by a path relative to the media root
// resume; DELETE removes a session from the store; --resume all resumes
// the newest that fit, reports the rest and a stored prompt over the
// limits, and never refuses to start.
func TestResumeSessions(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), testutil.SmallModelDir)
	lib, err := sam.FindRuntimeLibrary("")
	if err != nil {
		t.Skip("needs ONNX Runtime")
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	model, err := sam.Open(rt, dir, sam.Options{Provider: sam.ProviderCPU, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { model.Close() })
	st, err := store.Open(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	root := filepath.Join(testutil.RepoRoot(t), "testdata", "videos")
	rel, _ := filepath.Rel(root, testutil.Clip(t, "moving_shape"))
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	server := func() (*web.Server, string) {
		cfg := web.Config{Sources: web.SourcePolicy{MediaRoot: root}, MaxSessions: 2, PauseAfter: -1, IdleTimeout: -1,
			Logger: log, UploadDir: t.TempDir()}
		cfg = web.ModelTrackers(cfg, sam.NewScheduler(model), tracker.SAMURAI)
		cfg.NewTracker = journal.Trackers(st, log, journal.Settings{}, cfg.NewTracker)
		cfg.Forget = ForgetIn(st)
		srv, err := web.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		return srv, hs.URL
	}
	create := func(base string) string {
		resp, err := http.Post(base+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, rel)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		var info web.SessionInfo
		if err := jsonUnmarshal(body, &info); err != nil {
			t.Fatal(err)
		}
		return info.ID
	}

	srv, base := server()
	deleted, b := create(base), create(base)
	req, _ := http.NewRequest("DELETE", base+"/api/sessions/"+deleted, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := st.Session(deleted); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DELETE answered %d, the session is still in the store (%v)", resp.StatusCode, err)
	}
	c := create(base)
	srv.Close()
	// A prompt stored over the limits (before them, or by hand) and a
	// newer session than the others.
	over, err := st.CreateSession(store.Info{Source: rel, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddPrompt(over.ID, store.Prompt{Prompt: prompt.Prompt{Object: 1, Points: make([]prompt.Point, 100)}}); err != nil {
		t.Fatal(err)
	}
	newest, err := st.CreateSession(store.Info{Source: rel, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}

	srv, _ = server()
	var stderr bytes.Buffer
	e := &Env{Stdout: io.Discard, Stderr: &stderr, Getenv: os.Getenv}
	if err := ResumeSessions(context.Background(), e, srv, st, []string{"all"}, 2); err != nil {
		t.Fatalf("--resume all: %v\n%s", err, stderr.String())
	}
	var ids []string
	for _, s := range srv.Sessions() {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	want := []string{c, newest.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("--resume all resumed %v, want the newest two that can be, %v\n%s", ids, want, stderr.String())
	}
	for _, s := range []string{"session " + over.ID + ": stored prompt", "at most 64", "1 older stored sessions not resumed", b} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("--resume all did not report %q:\n%s", s, stderr.String())
		}
	}
	// --resume ID of a session opened by a media-root path.
	srv.Manager().Remove(c)
	stderr.Reset()
	if err := ResumeSessions(context.Background(), e, srv, st, []string{b}, 1); err != nil {
		t.Errorf("--resume %s (source %q): %v", b, rel, err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
