package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 10, item 3: the default bind is loopback and the URL printed for
// any other bind opens, with the token every request then needs.
func TestServeBindAndToken(t *testing.T) {
	r := vidseg(t, t.TempDir(), nil, "serve", "--help")
	if !strings.Contains(r.stdout+r.stderr, "127.0.0.1:8080") {
		t.Errorf("serve --help does not show the loopback default bind:\n%s%s", r.stdout, r.stderr)
	}
	srv := startServe(t, nil, "--no-store", "--addr", "0.0.0.0:0")
	defer srv.kill(t, syscall.SIGTERM)
	if strings.Contains(srv.base, "0.0.0.0") || strings.Contains(srv.base, "[::]") {
		t.Errorf("printed URL %s cannot be opened", srv.base)
	}
	if resp, err := http.Get(srv.base + "/api/info"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /api/info without the token on a public bind: %d, want 401", resp.StatusCode)
		}
	}
	open := regexp.MustCompile(`http://\S+/\?token=\S+`).FindString(srv.stderr.String())
	if open == "" {
		t.Fatalf("no URL with a token printed:\n%s", srv.stderr)
	}
	// The printed URL opens the page: a browser follows the redirect with
	// the cookie it sets.
	jar := &cookieJar{}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(open)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("app.js")) {
		t.Errorf("printed URL %s: %d", open, resp.StatusCode)
	}
	resp, err = client.Get(srv.base + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("API with the page's cookie: %d", resp.StatusCode)
	}
}

// cookieJar keeps every cookie for every URL: enough for one server.
type cookieJar struct{ c []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.c = append(j.c, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.c }

// upload creates a session from the clip as a browser upload would.
func (p *serveProc) upload(t *testing.T, clip string) string {
	t.Helper()
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filepath.Base(clip))
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(p.base+"/api/sessions", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var v sessionView
	json.Unmarshal(body, &v)
	return v.ID
}

type sessionStats struct {
	ID          string `json:"id"`
	Tracked     int    `json:"trackedFrame"`
	ModelFrames int64  `json:"modelFrames"`
	CondFrames  *int   `json:"condFrames"`
}

func (p *serveProc) stats(t *testing.T) map[string]sessionStats {
	t.Helper()
	var list []sessionStats
	if code := p.do(t, "GET", "/api/sessions", nil, &list); code != 200 {
		t.Fatalf("list sessions: %d", code)
	}
	m := map[string]sessionStats{}
	for _, s := range list {
		m[s.ID] = s
	}
	return m
}

func modelServe(t *testing.T, extra ...string) (*serveProc, string) {
	t.Helper()
	model, clip := needModelServe(t, "crossing")
	// Sessions stay busy for the test's length.
	env := append([]string{"VIDSEG_MODEL=" + model, "VIDSEG_PAUSE_AFTER=1h", "VIDSEG_IDLE_TIMEOUT=1h", "VIDSEG_THREADS=1"}, extra...)
	return startServe(t, env, "--no-store"), clip
}

// Issue 10, item 5: with 8 sessions tracking, a prompt waits for at most
// the model step in progress, not for a turn of every session; measured
// by the frames other sessions finish while the prompt is answered
// (machine speed cancels out).
func TestServePromptPreemptsTracking(t *testing.T) {
	srv, clip := modelServe(t)
	defer srv.kill(t, syscall.SIGTERM)
	var ids []string
	for range 8 {
		start := time.Now()
		id := srv.upload(t, clip)
		t.Logf("create %d: %v", len(ids)+1, time.Since(start).Round(time.Millisecond))
		// Watched sessions keep tracking (an unwatched file holds its first frame).
		testutil.DialWHEP(t, srv.base+"/api/sessions/"+id+"/whep")
		ids = append(ids, id)
	}
	body := map[string]any{"object": 0, "points": []map[string]any{{"x": 40, "y": 110, "positive": true}}}
	var worst int64
	for i, id := range ids[:2] {
		srv.waitTracked(t, id, -1, 10*time.Minute)
		before := srv.stats(t)
		start := time.Now()
		if code := srv.do(t, "POST", "/api/sessions/"+id+"/prompts", body, nil); code != 200 {
			t.Fatalf("prompt: %d", code)
		}
		took := time.Since(start)
		after := srv.stats(t)
		var others int64
		for oid, s := range after {
			if oid != id {
				others += s.ModelFrames - before[oid].ModelFrames
			}
		}
		worst = max(worst, others)
		t.Logf("prompt %d: %v; other sessions finished %d frames meanwhile", i, took.Round(time.Millisecond), others)
	}
	// One step of another session may finish (it was running when the
	// prompt came) and the two list requests bracket a little more.
	if worst > 2 {
		t.Errorf("other sessions finished up to %d frames while a prompt waited; want at most 2 (prompts go first)", worst)
	}
}

// Issue 10, item 6: a stream's tracker keeps a bounded number of prompted
// frames per object however often the user clicks.
func TestServeCondFramesBounded(t *testing.T) {
	srv, clip := modelServe(t)
	defer srv.kill(t, syscall.SIGTERM)
	id := srv.upload(t, clip)
	// A file session holds its first frame until someone watches.
	viewer := testutil.DialWHEP(t, srv.base+"/api/sessions/"+id+"/whep")
	defer viewer.Close()
	srv.waitTracked(t, id, -1, 3*time.Minute)
	var pr struct {
		Object int `json:"object"`
		Frame  int `json:"frame"`
	}
	obj := 0
	var frames []int
	for i := range 5 {
		body := map[string]any{"object": obj, "points": []map[string]any{{"x": 40 + i, "y": 110, "positive": true}}}
		if code := srv.do(t, "POST", "/api/sessions/"+id+"/prompts", body, &pr); code != 200 {
			t.Fatalf("prompt %d: %d", i, code)
		}
		obj = pr.Object
		frames = append(frames, pr.Frame)
		srv.waitTracked(t, id, pr.Frame, 3*time.Minute)
	}
	slices.Sort(frames)
	if len(slices.Compact(frames)) < 5 {
		t.Fatalf("prompts landed on frames %v; want distinct frames", frames)
	}
	s := srv.stats(t)[id]
	if s.CondFrames == nil {
		t.Fatal("the session does not report condFrames")
	}
	if *s.CondFrames < 1 || *s.CondFrames > 4 {
		t.Errorf("object keeps %d prompted frames after prompts on %v; want 1..4 (the stream preset)", *s.CondFrames, frames)
	}
}
