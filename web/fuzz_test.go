package web

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// fuzzRoutes are the handlers FuzzAPI feeds; {id} is a live session.
var fuzzRoutes = []struct{ method, path, ctype string }{
	{"POST", "/api/sessions", "application/json"},
	{"POST", "/api/sessions", "multipart"}, // data is the uploaded file
	{"POST", "/api/sessions/{id}/prompts", "application/json"},
	{"POST", "/api/sessions/{id}/whep", "application/sdp"},
	{"DELETE", "/api/sessions/{id}/objects/{data}", ""},
	{"DELETE", "/api/sessions/{id}/whep/{data}", ""},
	{"GET", "/api/sessions/{data}", ""},
}

// FuzzAPI sends arbitrary JSON bodies, SDP offers, uploads and path
// segments to the API over real HTTP. Whatever comes in, the server
// answers with a status below 500 and a JSON error that names no server
// path, and the session it serves stays up. `go test` runs the committed
// corpus (testdata/fuzz/FuzzAPI); `make fuzz` explores further.
func FuzzAPI(f *testing.F) {
	clip := testutil.Clip(f, "moving_shape")
	f.Add(uint8(0), []byte(`{"source":"moving_shape/video.mp4"}`))
	f.Add(uint8(0), []byte(`{"source":"../../../etc/passwd"}`))
	f.Add(uint8(0), []byte(`{"source":"http://169.254.169.254/latest/meta-data/"}`))
	f.Add(uint8(1), []byte("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n"))
	f.Add(uint8(2), []byte(`{"object":0,"points":[{"x":1e40,"y":-1,"positive":true}]}`))
	f.Add(uint8(2), []byte(`{"mask":{"size":[240,320],"counts":"0000"}}`))
	f.Add(uint8(3), []byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"))
	f.Add(uint8(4), []byte("-1"))
	f.Add(uint8(6), []byte("%2e%2e"))
	data, err := os.ReadFile(clip)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), data[:4096])

	s, hs := newServer(f, Config{UploadLimit: 1 << 20, UploadDir: f.TempDir(), PauseAfter: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	live := createSession(f, hs.URL, clip)
	f.Fuzz(func(t *testing.T, route uint8, data []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(rt.path, "{id}", live.ID)
		path = strings.ReplaceAll(path, "{data}", pathSegment(data))
		var body io.Reader = bytes.NewReader(data)
		ctype := rt.ctype
		if ctype == "multipart" {
			body, ctype = multipartBody(t, "upload.mp4", data)
		}
		req, err := http.NewRequest(rt.method, hs.URL+path, body)
		if err != nil {
			return // not a URL: nothing reaches the server
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", rt.method, path, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s %s %q: %d %s", rt.method, path, data, resp.StatusCode, out)
		}
		if resp.StatusCode >= 400 {
			var e struct{ Error string }
			if json.Unmarshal(out, &e) != nil || e.Error == "" {
				t.Errorf("%s %s: %d answer is not a JSON error: %q", rt.method, path, resp.StatusCode, out)
			}
		}
		if root := testutil.RepoRoot(t); bytes.Contains(out, []byte(root)) {
			t.Errorf("%s %s: answer names a server path: %s", rt.method, path, out)
		}
		// Sessions the input created end with it; the live one stays.
		for _, info := range s.Sessions() {
			if info.ID != live.ID {
				s.m.Remove(info.ID)
			}
		}
		if _, ok := s.m.Get(live.ID); !ok {
			t.Fatalf("%s %s %q ended the live session", rt.method, path, data)
		}
	})
}

// pathSegment makes data one escaped path segment.
func pathSegment(data []byte) string {
	if len(data) > 64 {
		data = data[:64]
	}
	return url.PathEscape(string(data))
}
