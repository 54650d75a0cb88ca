package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// newServer serves the repository's test clips (testdata/videos) as the
// media root unless cfg names another.
func newServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Sources.MediaRoot == "" {
		cfg.Sources.MediaRoot = filepath.Join(testutil.RepoRoot(t), "testdata", "videos")
	}
	return newBareServer(t, cfg)
}

// newBareServer takes cfg as is: without a media root it opens no
// server-side files.
func newBareServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, hs
}

type apiResult struct {
	status int
	body   []byte
	header http.Header
}

func (r apiResult) errorText(t testing.TB) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d body %q is not a JSON error", r.status, r.body)
	}
	return e.Error
}

func call(t testing.TB, method, url, ctype string, body io.Reader) apiResult {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if req.ContentLength > 1<<20 {
		// As curl does for large bodies: the server may refuse by the
		// headers alone, and a body still being written when it closes
		// the connection meets a reset instead of the answer.
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return apiResult{resp.StatusCode, data, resp.Header}
}

func createSession(t testing.TB, base, src string) SessionInfo {
	t.Helper()
	r := call(t, "POST", base+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q}`, src)))
	if r.status != http.StatusCreated {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	var info SessionInfo
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// watch connects a real pion viewer to a session.
func watch(t testing.TB, base, session string) *testutil.Viewer {
	t.Helper()
	return testutil.DialWHEP(t, base+"/api/sessions/"+session+"/whep")
}

func TestInfoWithoutModel(t *testing.T) {
	_, hs := newServer(t, Config{})
	r := call(t, "GET", hs.URL+"/api/info", "", nil)
	var info Info
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Model || !strings.Contains(info.ModelHelp, "tools/export/export.py --variant sam2.1_hiera_t") ||
		!strings.Contains(info.ModelHelp, "vidseg serve --model models/sam2.1_hiera_t") ||
		!strings.Contains(info.ModelHelp, "testdata/model/sam2.1_hiera_t_random") {
		t.Errorf("info without model = %+v", info)
	}
	page := call(t, "GET", hs.URL+"/", "", nil)
	if page.status != 200 || !bytes.Contains(page.body, []byte("app.js")) {
		t.Errorf("GET /: %d", page.status)
	}
}

func TestSessionStreamsWithoutModel(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{})
	s := createSession(t, hs.URL, clip)
	if s.Width != 320 || s.Height != 240 || s.Model {
		t.Errorf("session info %+v", s)
	}
	v := watch(t, hs.URL, s.ID)
	msgs := v.WaitMessages(t, 10, 15*time.Second)
	var m struct {
		Type      string
		Frame     int
		MaskFrame int
		Width     int
		LatencyMs float64
	}
	if err := json.Unmarshal(msgs[len(msgs)-1], &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "frame" || m.Width != 320 || m.MaskFrame != -1 || m.LatencyMs <= 0 {
		t.Errorf("metadata %s", msgs[len(msgs)-1])
	}
	var list []SessionInfo
	if err := json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions", "", nil).body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Viewers != 1 || list[0].FramesSent == 0 {
		t.Errorf("sessions = %+v", list)
	}
	if r := call(t, "DELETE", hs.URL+v.Location(), "", nil); r.status != 200 {
		t.Errorf("DELETE viewer: %d %s", r.status, r.body)
	}
	if r := call(t, "DELETE", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 204 {
		t.Errorf("DELETE session: %d %s", r.status, r.body)
	}
}

func multipartBody(t testing.TB, name string, data []byte) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func TestUpload(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, hs := newServer(t, Config{UploadLimit: int64(len(data)) + 10, UploadDir: dir})
	body, ct := multipartBody(t, "clip.mp4", data)
	r := call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)
	if s.Width != 320 {
		t.Errorf("uploaded session %+v", s)
	}
	// Too big: 413 naming the limit; nothing left on disk.
	big := append(bytes.Clone(data), make([]byte, 100)...)
	body, ct = multipartBody(t, "big.mp4", big)
	r = call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.errorText(t), fmt.Sprint(len(data)+10)) {
		t.Errorf("oversized upload: %d %s", r.status, r.body)
	}
	// Not a video.
	body, ct = multipartBody(t, "notes.mp4", []byte("just some text, not a video at all"))
	r = call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status != http.StatusBadRequest {
		t.Errorf("text upload: %d %s", r.status, r.body)
	}
	if r := call(t, "DELETE", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 204 {
		t.Errorf("DELETE: %d", r.status)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("upload dir keeps %d files after the sessions ended", len(left))
	}
}

func TestBadInputsKeepServing(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{UploadLimit: 1024})
	s := createSession(t, hs.URL, clip)
	v := watch(t, hs.URL, s.ID)
	v.WaitMessages(t, 3, 15*time.Second)

	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		mention                         string
	}{
		{"malformed SDP", "POST", "/api/sessions/" + s.ID + "/whep", "application/sdp", "v=0\r\nthis is not sdp", 400, "SDP"},
		{"empty SDP", "POST", "/api/sessions/" + s.ID + "/whep", "application/sdp", "", 400, "SDP"},
		{"WHEP unknown session", "POST", "/api/sessions/nosuch/whep", "application/sdp", "v=0", 404, `"nosuch"`},
		{"unknown session", "GET", "/api/sessions/nosuch", "", "", 404, `"nosuch"`},
		{"delete unknown session", "DELETE", "/api/sessions/nosuch", "", "", 404, `"nosuch"`},
		{"unknown viewer", "DELETE", "/api/sessions/" + s.ID + "/whep/ghost", "", "", 404, "ghost"},
		{"unknown object", "DELETE", "/api/sessions/" + s.ID + "/objects/7", "", "", 404, "object 7"},
		{"bad object id", "DELETE", "/api/sessions/" + s.ID + "/objects/x", "", "", 400, `"x"`},
		{"prompt without model", "POST", "/api/sessions/" + s.ID + "/prompts", "application/json", `{"points":[{"x":1,"y":1,"positive":true}]}`, 409, "export.py"},
		{"file outside the media root", "POST", "/api/sessions", "application/json", `{"source":"/no/such/video.mp4"}`, 403, "media directory"},
		{"missing file in the media root", "POST", "/api/sessions", "application/json", `{"source":"video.mp4"}`, 404, `"video.mp4"`},
		{"escape by ..", "POST", "/api/sessions", "application/json", `{"source":"../../go.mod"}`, 403, "media directory"},
		{"URL while URLs are off", "POST", "/api/sessions", "application/json", `{"source":"http://example.com/a.mp4"}`, 403, "--allow-urls"},
		{"text/plain create", "POST", "/api/sessions", "text/plain", `{"source":"a.mp4"}`, 415, "application/json"},
		{"bad JSON", "POST", "/api/sessions", "application/json", `{"source":`, 400, "JSON"},
		{"oversized upload", "POST", "/api/sessions", "multipart/form-data; boundary=x", strings.Repeat("x", 2<<20), 413, "1024 bytes"},
		{"unknown route", "GET", "/api/nothing", "", "", 404, "/api/nothing"},
	}
	for _, c := range cases {
		r := call(t, c.method, hs.URL+c.path, c.ctype, strings.NewReader(c.body))
		if r.status != c.status {
			t.Errorf("%s: status %d (%s), want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if msg := r.errorText(t); !strings.Contains(msg, c.mention) {
			t.Errorf("%s: error %q does not mention %q", c.name, msg, c.mention)
		}
	}
	// The session and its viewer are unharmed.
	before, _ := v.Counts()
	v.WaitFrames(t, before+5, 15*time.Second)
	if r := call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 200 {
		t.Errorf("session gone after bad requests: %d", r.status)
	}
}

// A session from an http:// URL (the clip served by a second server).
func TestSessionFromHTTPURL(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(clip))))
	defer files.Close()
	_, hs := newServer(t, Config{Sources: SourcePolicy{AllowURLs: true, AllowPrivateURLs: true}})
	s := createSession(t, hs.URL, files.URL+"/"+filepath.Base(clip))
	if s.Width != 320 || s.Height != 240 {
		t.Errorf("session from URL: %+v", s)
	}
	v := watch(t, hs.URL, s.ID)
	// Frames arrive from the URL; how many of a 2-second clip depends on the
	// machine (a live source's pictures are skipped to keep its pace).
	v.WaitMessages(t, 1, 15*time.Second)
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"`+files.URL+`/missing.mp4"}`))
	if r.status < 400 || !strings.Contains(r.errorText(t), "missing.mp4") {
		t.Errorf("missing URL: %d %s", r.status, r.body)
	}
}

// Twenty viewers on one session share its encoder; half leave abruptly and
// the rest, and the API, keep going.
func TestTwentyViewersOneSession(t *testing.T) {
	if testing.Short() {
		t.Skip("20 peers take a few seconds")
	}
	clip := testutil.Clip(t, "moving_shape")
	_, hs := newServer(t, Config{})
	s := createSession(t, hs.URL, clip)
	viewers := make([]*testutil.Viewer, 20)
	for i := range viewers {
		viewers[i] = watch(t, hs.URL, s.ID)
	}
	for _, v := range viewers {
		v.WaitMessages(t, 3, 20*time.Second)
	}
	for _, v := range viewers[:10] {
		v.Close()
	}
	var info SessionInfo
	for deadline := time.Now().Add(testutil.Patience(10 * time.Second)); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil).body, &info)
		if info.Viewers == 10 {
			break
		}
	}
	if info.Viewers != 10 {
		t.Errorf("%d viewers after 10 left, want 10", info.Viewers)
	}
	for _, v := range viewers[10:] {
		_, n := v.Counts()
		v.WaitMessages(t, n+5, 10*time.Second)
	}
	t.Logf("session after 20 viewers: %+v", info)
}
