package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/livetest"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/session"
)

// Issue 24, item 8: a refused URL's error does not say what its host
// resolves to.
func TestURLErrorsHideAddresses(t *testing.T) {
	_, hs := newServer(t, Config{Sources: SourcePolicy{AllowURLs: true}})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"http://localhost:1/x.mp4"}`))
	msg := r.errorText(t)
	if r.status != http.StatusForbidden || strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "::1") || strings.Contains(msg, "dial") {
		t.Errorf("http://localhost:1: %d %q, want 403 without the resolved address", r.status, msg)
	}
}

// Issue 24, item 8: a client may not name its session after one of the
// operator's cameras (their events would share its numbering).
func TestCameraNamesReserved(t *testing.T) {
	s, hs := newServer(t, Config{Cameras: []string{"gate"}})
	clip := testutil.Clip(t, "moving_shape")
	if _, err := s.Manager().OpenCamera(context.Background(), session.CameraSpec{Name: "yard", Source: clip}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"yard", "gate"} {
		r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"`+clip+`","camera":"`+name+`"}`))
		if r.status != http.StatusConflict {
			t.Errorf("a client session named after camera %q: %d %s, want 409", name, r.status, r.body)
		}
	}
	if r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"`+clip+`","camera":"porch"}`)); r.status != http.StatusCreated {
		t.Errorf("a free camera name: %d %s", r.status, r.body)
	}
}

// Issue 24, item 8: the page cannot be framed; only exact loopback names
// are answered without a token.
func TestFramingAndLoopbackNames(t *testing.T) {
	_, hs := newServer(t, Config{})
	r := call(t, "GET", hs.URL+"/", "", nil)
	if r.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page headers X-Frame-Options %q, CSP %q: want DENY and frame-ancestors 'none'",
			r.header.Get("X-Frame-Options"), r.header.Get("Content-Security-Policy"))
	}
	for host, want := range map[string]int{"evil.localhost": 403, "localhost.evil.com": 403, "localhost": 200, "127.0.0.1": 200, "[::1]": 200} {
		req, _ := http.NewRequest("GET", hs.URL+"/api/info", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// Issue 24, item 8: behind a TLS proxy (--public-url https://...) the
// page's own writes carry its https origin and are accepted, and the
// token cookie is Secure.
func TestPublicURLBehindProxy(t *testing.T) {
	_, hs := newServer(t, Config{Token: "tok", PublicURL: "https://vidseg.example.org/"})
	req, _ := http.NewRequest("GET", hs.URL+"/api/info?token=tok", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("token cookie %v, want one, Secure", c)
	}
	post := func(origin string) int {
		req, _ := http.NewRequest("POST", hs.URL+"/api/sessions", strings.NewReader(`{"source":"moving_shape/video.mp4"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("https://vidseg.example.org"); got != http.StatusCreated {
		t.Errorf("POST from the public origin: %d, want 201", got)
	}
	if got := post("http://vidseg.example.org"); got != http.StatusForbidden {
		t.Errorf("POST from the public host over http: %d, want 403", got)
	}
}

// Issue 24: X-Forwarded-Proto (and Forwarded, X-Forwarded-Host) is
// honoured from nobody: any client can send it, so the page's scheme and
// host come only from --public-url or the connection itself. A client
// claiming https gets no https origin accepted and no Secure cookie
// decision of its own; behind a configured https proxy, claiming http
// does not downgrade either.
func TestForwardedHeadersIgnored(t *testing.T) {
	forged := map[string]string{"X-Forwarded-Proto": "https", "Forwarded": "proto=https;host=evil.example", "X-Forwarded-Host": "evil.example"}
	do := func(hsURL, method, path, origin string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, hsURL+path, strings.NewReader(`{"source":"moving_shape/video.mp4"}`))
		req.Header.Set("Content-Type", "application/json")
		if !strings.Contains(path, "token=") { // else the token sets the cookie
			req.Header.Set("Authorization", "Bearer tok")
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	_, hs := newServer(t, Config{Token: "tok"})
	host := strings.TrimPrefix(hs.URL, "http://")
	for _, origin := range []string{"https://" + host, "https://evil.example", "http://evil.example"} {
		if r := do(hs.URL, "POST", "/api/sessions", origin, forged); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST from %s with forwarded headers claiming it: %d, want 403", origin, r.StatusCode)
		}
	}
	if r := do(hs.URL, "POST", "/api/sessions", "http://"+host, forged); r.StatusCode != http.StatusCreated {
		t.Errorf("POST from the connection's own origin with forwarded headers: %d, want 201", r.StatusCode)
	}
	if c := do(hs.URL, "GET", "/api/info?token=tok", "", forged).Cookies(); len(c) != 1 || c[0].Secure {
		t.Errorf("cookie over http with X-Forwarded-Proto: https: %v, want one, not Secure (the client says so, not a proxy we know)", c)
	}

	_, hs = newServer(t, Config{Token: "tok", PublicURL: "https://vidseg.example.org"})
	down := map[string]string{"X-Forwarded-Proto": "http", "Forwarded": "proto=http"}
	if c := do(hs.URL, "GET", "/api/info?token=tok", "", down).Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("cookie behind an https --public-url with X-Forwarded-Proto: http: %v, want Secure", c)
	}
	if r := do(hs.URL, "POST", "/api/sessions", "http://vidseg.example.org", down); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST from the public host over http, claimed by X-Forwarded-Proto: %d, want 403", r.StatusCode)
	}
}

// Issue 24, item 5: RTSP redirects are not followed (FFmpeg followed a 302
// to another server, unchecked), and RTSP media comes over the checked TCP
// connection, never UDP, unless the operator allows it.
func TestRTSPRedirectRefused(t *testing.T) {
	internal := livetest.StartServer(t, "127.0.0.1:0")
	livetest.Publish(t, testutil.Clip(t, "moving_shape"), internal.URL("secret-path"))
	<-internal.Recording()
	front := livetest.StartServer(t, "127.0.0.1:0")
	front.Redirect(internal.URL("secret-path"))
	_, hs := newServer(t, Config{Sources: SourcePolicy{AllowURLs: true, AllowPrivateURLs: true}})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"`+front.URL("cam")+`"}`))
	if r.status != http.StatusForbidden || !strings.Contains(r.errorText(t), "redirect") {
		t.Errorf("an RTSP source that redirects: %d %s, want 403 (redirects are not followed)", r.status, r.body)
	}
	// The stream itself plays, over TCP through the policy's relay.
	s := createSession(t, hs.URL, internal.URL("secret-path"))
	waitState(t, hs.URL, s.ID, "playing", 10*time.Second)
}
