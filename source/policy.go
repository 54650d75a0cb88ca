// Package source decides what a client may open as a session's video and
// prepares it for the decoder: a file under the media root, an allowed
// capture device, an http(s):// URL (fetched by Go through a dialer that
// refuses private addresses) or an rtsp:// URL (resolved and checked
// here). It is the HTTP client of URL sources, not an HTTP server.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vidseg/vidseg/decode"
)

// Policy is the server-side allow-list for what a client may open.
// The zero value allows only uploads.
type Policy struct {
	// MediaRoot, when set, is the one directory whose files (and
	// subdirectories') clients may name, relative to it or absolute.
	// Symlinks are followed only while they stay inside it (os.Root).
	MediaRoot string
	// Devices lists the capture devices (/dev/videoN) clients may open.
	Devices []string
	// AllowURLs enables http(s):// and rtsp:// sources.
	AllowURLs bool
	// AllowPrivateURLs lets URL sources reach loopback, private,
	// link-local, CGNAT and cloud metadata addresses.
	AllowPrivateURLs bool
	// AllowRTSPUDP lets RTSP media come over UDP, where a server's SETUP
	// answer chooses the media's address and redirects are FFmpeg's to
	// follow: without it RTSP is interleaved over the one TCP connection,
	// through a relay that refuses redirects.
	AllowRTSPUDP bool
	// ConnectTimeout bounds connecting to a URL's host and waiting for its
	// first answer [10 s]. It is also the time every failure to get an
	// answer takes: a closed port is reported as late as a silent one, so
	// that answer times are no port scanner.
	ConnectTimeout time.Duration
}

// connectTimeout is p.ConnectTimeout or its default.
func (p Policy) connectTimeout() time.Duration {
	if p.ConnectTimeout > 0 {
		return p.ConnectTimeout
	}
	return fetchTimeout
}

var (
	// ErrNotAllowed: the source is outside the server's allow-list.
	ErrNotAllowed = errors.New("source not allowed")
	// ErrPrivateAddr: a URL resolved to an address the policy refuses.
	ErrPrivateAddr = errors.New("destination address not allowed")
	// ErrNotFound: the named file, device or URL is not there.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request itself is wrong (not a URL, not a file).
	ErrInvalid = errors.New("bad request")
)

// Source is a resolved, allowed session source.
type Source struct {
	Name   string // shown to clients: never a server path they did not give
	Target string // what decode.Open gets (names it in errors when Input is set)
	Path   string // a file's real path, for the edit player's own decoders
	Opts   decode.Options
	File   bool // a file: Loop applies
	// ConnErr, when set, says why the source's connection failed as the
	// policy's relay saw it (an RTSP redirect refused, the server not
	// answering), or nil: a decoder that failed to open has the reason
	// here rather than in FFmpeg's words.
	ConnErr func() error
}

// Resolver applies a Policy. Close it to release the media root.
type Resolver struct {
	p        Policy
	life     context.Context // bounds reading URL sources after Resolve returns
	root     *os.Root        // p.MediaRoot, opened once
	rootPath string          // its absolute, symlink-free path
	fetch    *http.Client
}

// NewResolver opens p's media root. URL sources it resolves are read
// until life ends (or the decoder closes them).
func NewResolver(life context.Context, p Policy) (*Resolver, error) {
	r := &Resolver{p: p, life: life, fetch: newFetchClient(p.AllowPrivateURLs, p.connectTimeout())}
	if dir := p.MediaRoot; dir != "" {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err == nil {
			r.root, err = os.OpenRoot(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("media root: %w", err)
		}
		r.rootPath = abs
	}
	return r, nil
}

// Close releases the media root.
func (s *Resolver) Close() error {
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

// Resolve checks src against the policy and prepares its decode options.
func (s *Resolver) Resolve(ctx context.Context, src string) (*Source, error) {
	p := s.p
	switch {
	case strings.HasPrefix(src, "/dev/"):
		dev := filepath.Clean(src)
		if !slices.Contains(p.Devices, dev) {
			return nil, fmt.Errorf("%w: %s is not one of the server's capture devices (vidseg serve --devices)", ErrNotAllowed, src)
		}
		if _, err := os.Stat(dev); err != nil {
			return nil, fmt.Errorf("%w: capture device %s is not connected", ErrNotFound, dev)
		}
		return &Source{Name: dev, Target: dev, Opts: decode.Options{Format: "v4l2", Formats: decode.DeviceFormats, Protocols: "file"}}, nil
	case hasScheme(src):
		return s.resolveURL(ctx, src, s.p.connectTimeout())
	}
	return s.resolveFile(src)
}

// Reresolve is Resolve for a source no client chose just now: one that
// played before and is reopened (a live camera reconnecting) or an
// operator's camera. A failure to connect is reported at once, not held
// until the connect timeout: it tells a client nothing it did not know,
// and the camera is back sooner.
func (s *Resolver) Reresolve(ctx context.Context, src string) (*Source, error) {
	if hasScheme(src) {
		return s.resolveURL(ctx, src, 0)
	}
	return s.Resolve(ctx, src)
}

func hasScheme(src string) bool {
	i := strings.Index(src, "://")
	return i > 0 && !strings.ContainsAny(src[:i], "/.")
}

// resolveFile opens a file under the media root. A path outside it, one
// that leaves it through a symlink or "..", and a missing path outside it
// all get the same answer, so answers tell nothing about the server's
// other files.
func (s *Resolver) resolveFile(src string) (*Source, error) {
	if s.root == nil {
		return nil, fmt.Errorf("%w: this server opens no server-side files (vidseg serve --media-root DIR enables a media directory); upload the video instead", ErrNotAllowed)
	}
	outside := fmt.Errorf("%w: %q is not a video under the server's media directory", ErrNotAllowed, src)
	rel := filepath.Clean(src)
	if filepath.IsAbs(rel) {
		r, err := filepath.Rel(s.rootPath, rel)
		if err != nil {
			return nil, outside
		}
		rel = r
	}
	if !filepath.IsLocal(rel) {
		return nil, outside
	}
	st, err := s.root.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: no file %q in the media directory", ErrNotFound, filepath.ToSlash(rel))
	case err != nil:
		return nil, outside // escapes through a symlink, or unreadable
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrInvalid, filepath.ToSlash(rel))
	}
	f, err := s.root.Open(rel)
	if err != nil {
		return nil, outside
	}
	name := filepath.ToSlash(rel)
	return &Source{Name: name, Target: name, File: true, Path: filepath.Join(s.rootPath, rel),
		Opts: decode.Options{Formats: decode.VideoFormats, Input: &sizedFile{f, st.Size()}}}, nil
}

// Upload opens a file the server stored itself (an upload, in its own
// data directory): FFmpeg reads it through Go, under the name the client
// gave it.
func Upload(path, name string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New("upload: the stored file cannot be read back")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, errors.New("upload: the stored file cannot be read back")
	}
	return &Source{Name: name, Target: name, File: true, Path: path,
		Opts: decode.Options{Formats: decode.VideoFormats, Input: &sizedFile{f, st.Size()}}}, nil
}

// sizedFile tells FFmpeg the file's size (AVSEEK_SIZE).
type sizedFile struct {
	*os.File
	size int64
}

func (f *sizedFile) Size() int64 { return f.size }

// UploadName is the uploaded file's own base name, for display.
func UploadName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == "/" {
		return "upload"
	}
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// resolveURL applies the URL policy. HTTP(S) is fetched by Go through a
// dialer that checks every address it connects to, and fed to FFmpeg as
// bytes; RTSP is resolved and checked here and FFmpeg connects to that
// address literally, so a second DNS answer cannot point it elsewhere.
// A failure to get an answer from the URL's host is reported no sooner
// than floor after connecting began.
func (s *Resolver) resolveURL(ctx context.Context, src string, floor time.Duration) (*Source, error) {
	p := s.p
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not a valid URL", ErrInvalid, src)
	}
	u.User = nil // credentials stay out of names shown to clients
	name := u.Redacted()
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" && scheme != "rtsp" {
		return nil, fmt.Errorf("%w: %s:// sources are not supported (http, https or rtsp)", ErrNotAllowed, scheme)
	}
	if !p.AllowURLs {
		return nil, fmt.Errorf("%w: URL sources are off on this server (vidseg serve --allow-urls enables them)", ErrNotAllowed)
	}
	if scheme == "rtsp" {
		port := u.Port()
		if port == "" {
			port = "554"
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
		if err != nil || len(addrs) == 0 {
			return nil, fmt.Errorf("%w: %s: cannot resolve host %q", decode.ErrUnreachable, name, u.Hostname())
		}
		ip := addrs[0].Unmap()
		if err := checkAddr(ip, p.AllowPrivateURLs); err != nil {
			return nil, fmt.Errorf("%w: %s", err, name)
		}
		target, _ := url.Parse(src) // parsed above; keeps credentials for FFmpeg
		dst := net.JoinHostPort(ip.String(), port)
		if p.AllowRTSPUDP {
			target.Host = dst
			return &Source{Name: name, Target: target.String(),
				Opts: decode.Options{Formats: decode.RTSPFormats, Protocols: decode.RTSPProtocols}}, nil
		}
		relay, err := startRTSPRelay(s.life, dst, p.AllowPrivateURLs, p.connectTimeout(), floor)
		if err != nil {
			return nil, err
		}
		target.Host = relay.Addr()
		return &Source{Name: name, Target: target.String(), ConnErr: relay.Err,
			Opts: decode.Options{Formats: decode.RTSPFormats, Protocols: decode.RTSPTCPProtocols, RTSPTCP: true}}, nil
	}
	in, err := openHTTP(ctx, s.life, s.fetch, src, floor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Source{Name: name, Target: name, Opts: decode.Options{Formats: decode.VideoFormats, Input: in}}, nil
}

// metadata are cloud metadata endpoints outside the ranges netip names.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT (Alibaba's metadata is 100.100.100.200)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: may embed any IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// checkAddr refuses loopback, private, link-local (169.254.169.254 and
// fe80::), multicast, unspecified and the ranges above unless allowed.
func checkAddr(ip netip.Addr, allowPrivate bool) error {
	ip = ip.Unmap()
	if allowPrivate {
		return nil
	}
	bad := !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
	for _, p := range metadata {
		bad = bad || p.Contains(ip)
	}
	if bad {
		return errPrivate
	}
	return nil
}

// errPrivate says a URL's destination is refused, without the address.
var errPrivate = fmt.Errorf("%w: URL sources may not reach loopback, private, link-local or metadata addresses on this server (vidseg serve --allow-private-urls allows them)", ErrPrivateAddr)
