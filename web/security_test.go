package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// Issue 10, item 1: FFmpeg's text demuxers draw a server file into the
// video; a playlist reaches local files; the answer tells whether a path
// exists.
func TestServerFilesNotDisclosed(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	dir := t.TempDir()
	nfo := filepath.Join(dir, "notes.nfo")
	if err := os.WriteFile(nfo, []byte("SECRET the server's notes\nline two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, hs := newBareServer(t, Config{UploadDir: t.TempDir()})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, nfo)))
	if r.status < 400 {
		t.Errorf("a text file as source: %d %s, want a refusal", r.status, r.body)
	}
	// An existing file and a missing one answer alike, and neither answer
	// names the server's path.
	a := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, clip)))
	b := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"/no/such/dir/video.mp4"}`))
	if a.status < 400 || a.status != b.status {
		t.Errorf("existing path answers %d %s, missing path %d %s: want the same refusal", a.status, a.body, b.status, b.body)
	}
	for _, res := range []apiResult{a, b} {
		if strings.Contains(string(res.body), "/no/such") || strings.Contains(string(res.body), filepath.Dir(clip)) {
			t.Errorf("answer reveals a server path: %s", res.body)
		}
	}
	// An uploaded HLS playlist that names a local file.
	m3u8 := fmt.Sprintf("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://%s\n#EXT-X-ENDLIST\n", clip)
	body, ct := multipartBody(t, "list.m3u8", []byte(m3u8))
	r = call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status < 400 {
		t.Errorf("uploaded playlist naming a local file: %d %s, want a refusal", r.status, r.body)
	}
	// An uploaded text file is refused too.
	body, ct = multipartBody(t, "readme.nfo", []byte("SECRET uploaded text\n"))
	if r := call(t, "POST", hs.URL+"/api/sessions", ct, body); r.status < 400 {
		t.Errorf("uploaded text file: %d %s, want a refusal", r.status, r.body)
	}
}

// Issue 10, item 2: a URL source reaches the server's own network and the
// error texts scan ports.
func TestURLSourcesConfined(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"secret":"internal only"}`)
	}))
	defer internal.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // a port nobody listens on
	// URLs on: the dialer's address check is what refuses these.
	_, hs := newServer(t, Config{Sources: SourcePolicy{AllowURLs: true}})
	for _, src := range []string{
		internal.URL + "/secret.json?.nfo",
		strings.Replace(internal.URL, "127.0.0.1", "localhost", 1) + "/secret.json?.nfo",
		closedURL + "/x.mp4",
		"rtsp://127.0.0.1:1/stream",
		"rtmp://127.0.0.1:1/live",
	} {
		r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, src)))
		if r.status < 400 {
			t.Errorf("%s: %d %s, want a refusal", src, r.status, r.body)
			continue
		}
		if msg := r.errorText(t); strings.Contains(strings.ToLower(msg), "refused") || strings.Contains(msg, "Invalid data") {
			t.Errorf("%s: error %q tells what answers on the port", src, msg)
		}
	}
	if n := hits.Load(); n > 0 {
		t.Errorf("the internal server got %d requests from the app", n)
	}
}

// Issue 10, item 3: no Origin check, CORS for everyone, server paths listed.
func TestCrossOriginRefused(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{UploadDir: t.TempDir()})
	s := createSession(t, hs.URL, clip)

	do := func(method, path, ctype, origin, host, body string) apiResult {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return apiResult{resp.StatusCode, data, resp.Header}
	}
	evil := "http://evil.example"
	src := fmt.Sprintf(`{"source":%q}`, clip)
	// fetch(..., {mode: "no-cors"}) sends text/plain.
	if r := do("POST", "/api/sessions", "text/plain", evil, "", src); r.status < 400 {
		t.Errorf("no-cors create from another origin: %d %s", r.status, r.body)
	}
	// A form upload from another origin.
	data, _ := os.ReadFile(clip)
	body, ct := multipartBody(t, "clip.mp4", data)
	form, _ := io.ReadAll(body)
	if r := do("POST", "/api/sessions", ct, evil, "", string(form)); r.status < 400 {
		t.Errorf("form upload from another origin: %d %s", r.status, r.body)
	}
	if r := do("POST", "/api/sessions", "application/json", evil, "", src); r.status < 400 {
		t.Errorf("JSON create from another origin: %d %s", r.status, r.body)
	}
	if r := do("POST", "/api/sessions/"+s.ID+"/prompts", "text/plain", "", "", `{"points":[{"x":1,"y":1,"positive":true}]}`); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain prompt: %d %s, want 415", r.status, r.body)
	}
	if r := do("DELETE", "/api/sessions/"+s.ID, "", evil, "", ""); r.status < 400 {
		t.Errorf("DELETE from another origin: %d %s", r.status, r.body)
	}
	// DNS rebinding: a name that now points at 127.0.0.1.
	if r := do("GET", "/api/sessions", "", "", "evil.example:8080", ""); r.status < 400 {
		t.Errorf("GET with a foreign Host header: %d, want a refusal", r.status)
	}
	r := do("OPTIONS", "/api/sessions/"+s.ID+"/whep", "", evil, "", "")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("WHEP preflight from another origin: Access-Control-Allow-Origin %q", got)
	}
	r = do("POST", "/api/sessions/"+s.ID+"/whep", "application/sdp", evil, "", "v=0")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" || r.status < 400 {
		t.Errorf("WHEP offer from another origin: %d, Access-Control-Allow-Origin %q", r.status, got)
	}
	list := call(t, "GET", hs.URL+"/api/sessions", "", nil)
	if strings.Contains(string(list.body), filepath.Dir(clip)) {
		t.Errorf("session list shows server paths: %s", list.body)
	}
	// The session survived all of it.
	if r := call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 200 {
		t.Errorf("session gone: %d", r.status)
	}
}

// Issue 10, item 4: the file root is bypassed by symlinks and devices, and
// uploads fail with it.
func TestMediaRootConfines(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	root := t.TempDir()
	if err := os.Symlink(clip, filepath.Join(root, "escape.mp4")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "inside.mp4"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, hs := newServer(t, Config{Sources: SourcePolicy{MediaRoot: root}})
	post := func(src string) apiResult {
		return call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, src)))
	}
	if r := post(filepath.Join(root, "escape.mp4")); r.status < 400 || r.status >= 500 {
		t.Errorf("symlink out of the root: %d %s, want a refusal", r.status, r.body)
	}
	if r := post("/dev/video9"); r.status < 400 || r.status >= 500 {
		t.Errorf("device not allowed: %d %s, want a 4xx refusal", r.status, r.body)
	}
	if r := post(filepath.Join(root, "inside.mp4")); r.status != http.StatusCreated {
		t.Errorf("file inside the root: %d %s", r.status, r.body)
	} else if strings.Contains(string(r.body), root) {
		t.Errorf("answer shows the server path: %s", r.body)
	}
	body, ct := multipartBody(t, "my clip.mp4", data)
	r := call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status != http.StatusCreated {
		t.Fatalf("upload with a media root: %d %s", r.status, r.body)
	}
	var info SessionInfo
	json.Unmarshal(r.body, &info)
	if info.Source != "upload:my clip.mp4" {
		t.Errorf("uploaded session shows source %q, want the file's own name", info.Source)
	}
}

// Issue 10, item 5: sessions are capped, pause without viewers and end
// when idle.
func TestSessionsBounded(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{PauseAfter: 300 * time.Millisecond, IdleTimeout: 2 * time.Second})
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, createSession(t, hs.URL, clip).ID)
	}
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, clip)))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("9th session: %d %s, want 429", r.status, r.body)
	}
	if msg := r.errorText(t); !strings.Contains(msg, "8") {
		t.Errorf("429 error %q does not name the limit", msg)
	}
	// Without a viewer each pauses, then ends.
	waitFor(t, "sessions to pause", 30*time.Second, func() bool {
		var info SessionInfo
		json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+ids[0], "", nil).body, &info)
		// A file holds its first frame until a first viewer; after viewers
		// leave, the grace pauses it: either way nothing is decoded.
		return info.State == "paused" || info.State == "waiting for a viewer"
	})
	waitFor(t, "idle sessions to end", 60*time.Second, func() bool {
		var list []SessionInfo
		json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions", "", nil).body, &list)
		return len(list) == 0
	})
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
