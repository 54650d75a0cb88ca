package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/web"
)

// sessionLimits reads --max-sessions, --pause-after and --idle-timeout.
func sessionLimits(s *cli.Settings, cfg *web.Config) error {
	n, err := s.Int("max_sessions")
	if err != nil || n < 1 {
		return cli.Usagef("max sessions %q (from %s): want a positive number", s.Get("max_sessions"), s.Source("max_sessions"))
	}
	cfg.MaxSessions = n
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"pause_after", &cfg.PauseAfter}, {"idle_timeout", &cfg.IdleTimeout}} {
		v, err := time.ParseDuration(s.Get(d.key))
		if err != nil || v <= 0 {
			return cli.Usagef("%s %q (from %s): want a duration such as 30s or 10m", strings.ReplaceAll(d.key, "_", " "), s.Get(d.key), s.Source(d.key))
		}
		*d.to = v
	}
	return nil
}

// uploadDir is where uploads live: the server's own data directory beside
// its store (a fresh temporary one with --no-store), never the media root.
func uploadDir(s *cli.Settings, noStore bool) (string, error) {
	if noStore {
		return os.MkdirTemp("", "vidseg-uploads-")
	}
	dir := filepath.Join(filepath.Dir(s.Get("store")), "uploads")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("serve: upload directory: %w", err)
	}
	// Uploads of a previous run ended with it.
	old, _ := filepath.Glob(filepath.Join(dir, "vidseg-upload-*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir, nil
}

func splitList(l cli.List) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}

func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// printURL prints the address served and, with a token, the URL to open:
// an unspecified bind (0.0.0.0, ::) is shown as an address others can use.
func printURL(w io.Writer, a net.Addr, token string) {
	ap, err := netip.ParseAddrPort(a.String())
	host := a.String()
	if err == nil {
		ip := ap.Addr().Unmap()
		if ip.IsUnspecified() {
			ip = reachableIP()
		}
		host = net.JoinHostPort(ip.String(), fmt.Sprint(ap.Port()))
	}
	base := "http://" + host
	// The token line comes first: whoever waits for "serving on" (a
	// supervisor, a test) has it by then.
	if token != "" {
		fmt.Fprintf(w, "vidseg: open %s/?token=%s (every request needs the token)\n", base, url.QueryEscape(token))
	}
	fmt.Fprintf(w, "vidseg: serving on %s\n", base)
}

// reachableIP is this machine's first non-loopback unicast address, or
// 127.0.0.1.
func reachableIP() netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if pn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
				return ip.Unmap()
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}
