package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// tokenCookie carries the access token after the page was opened with
// ?token=: SameSite=Strict keeps it off requests other sites start.
const tokenCookie = "vidseg_token"

// NewToken returns a random access token (URL-safe, 128 bits).
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (crypto/rand docs)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// guard runs before every route: Host check, CORS, the access token, then
// Origin and content type on state-changing requests. It reports whether
// the request may go on.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	cors := origin != "" && slices.Contains(s.cfg.AllowOrigins, origin)
	if cors {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Location")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return false
		}
	}
	if s.cfg.Token == "" && !LoopbackHost(r.Host) {
		// Without a token the server answers only names of this machine: a
		// DNS name rebound to 127.0.0.1 must not reach it from a web page.
		writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not a name of this server; to serve other machines run vidseg serve with --addr and an access token", r.Host))
		return false
	}
	if s.cfg.Token != "" && !s.tokenOK(w, r) {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if origin != "" && !cors && !s.selfOrigin(r, origin) {
		writeError(w, http.StatusForbidden, fmt.Errorf("cross-origin request from %s refused (vidseg serve --cors-origin allows an origin)", origin))
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); origin == "" && site != "" && site != "same-origin" && site != "none" {
		writeError(w, http.StatusForbidden, fmt.Errorf("request started by another site (%s) refused", site))
		return false
	}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		want := "application/json"
		ok := ct == want
		switch {
		case r.URL.Path == "/api/sessions":
			want = "application/json or multipart/form-data"
			ok = ok || ct == "multipart/form-data"
		case strings.HasSuffix(r.URL.Path, "/whep"), r.URL.Path == "/api/whip":
			want, ok = "application/sdp", ct == "application/sdp"
		}
		if !ok {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want %s", ct, want))
			return false
		}
	}
	return true
}

// tokenOK accepts the token as "Authorization: Bearer", the page's cookie
// or ?token= (which sets the cookie and, for a page, redirects to the URL
// without it so it leaves the address bar).
func (s *Server) tokenOK(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodOptions {
		return true // preflights carry no credentials; CORS answered above
	}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokenEqual(auth) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && s.tokenEqual(c.Value) {
		return true
	}
	if q := r.URL.Query(); q.Has("token") && s.tokenEqual(q.Get("token")) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.cfg.Token, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https:")})
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/") {
			u := *r.URL
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return false
		}
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="vidseg"`)
	writeError(w, http.StatusUnauthorized, errors.New("access token required: open the URL vidseg serve printed (it ends in ?token=...) or send Authorization: Bearer TOKEN"))
	return false
}

func (s *Server) tokenEqual(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.cfg.Token)) == 1
}

// selfOrigin reports whether origin is the server's own: the origin of
// Config.PublicURL (behind a TLS proxy the page is https:// while the
// request reaching us is http://), or that of the request itself.
func (s *Server) selfOrigin(r *http.Request, origin string) bool {
	if s.cfg.PublicURL != "" {
		return strings.EqualFold(origin, strings.TrimSuffix(s.cfg.PublicURL, "/"))
	}
	if r.TLS != nil {
		return origin == "https://"+r.Host
	}
	return origin == "http://"+r.Host
}

// PublicOrigin checks a --public-url: an http(s) origin (scheme, host,
// optional port; no path) and returns it in canonical form.
func PublicOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("public URL %q: want the origin the page is served from, such as https://vidseg.example.org", raw)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// LoopbackHost reports whether a host (a Host header, the host of a
// listen address) names this machine's loopback interface.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	// Exactly localhost: a name under it (evil.localhost) is resolved by
	// some resolvers, not by all, and names nothing of this server.
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
