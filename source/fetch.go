package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/vidseg/vidseg/decode"
)

// fetchTimeout bounds connecting, the response headers and each read.
const fetchTimeout = 10 * time.Second

// newFetchClient returns the client URL sources are read with. Its dialer
// checks the address of every connection it makes (redirects and
// re-resolved names included) in Control, after DNS, so a name that
// resolves to a public address once and to 127.0.0.1 later is refused.
// No proxy from the environment: the check must see the real destination.
func newFetchClient(allowPrivate bool, timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrPrivateAddr, address)
			}
			return checkAddr(ap.Addr(), allowPrivate)
		},
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c}, nil
		},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true, // byte ranges must address the file itself
		DisableKeepAlives:      true, // a seek opens a new range; nothing idles between sessions
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s:// URL", req.URL.Scheme)
			}
			return nil
		},
	}
}

// errNoAnswer is every failure to get an answer from a URL's host.
var errNoAnswer = fmt.Errorf("%w: no answer from the URL's host", decode.ErrUnreachable)

// waitUntil returns at t, or sooner when ctx ends. A connection refused
// at once waits so until its timeout: answered as late as a host that
// drops packets or accepts and says nothing, the answer time tells a
// client nothing of which ports are open or filtered.
func waitUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// idleConn fails a read that waits longer than fetchTimeout.
type idleConn struct{ net.Conn }

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(fetchTimeout))
	return c.Conn.Read(b)
}

// httpInput is an HTTP resource as an io.ReadSeeker for FFmpeg: seeks
// become Range requests when the server offers them.
type httpInput struct {
	ctx    context.Context // lives with the session, not the request that opened it
	cancel context.CancelFunc
	client *http.Client
	url    string
	floor  time.Duration // the least time a failure to get an answer takes

	size     int64 // -1: unknown
	seekable bool
	pos      int64
	body     io.ReadCloser
}

// openHTTP issues the first GET under reqCtx's deadline; reading goes on
// under life (the resolver.s life) until Close.
func openHTTP(reqCtx, life context.Context, client *http.Client, url string, floor time.Duration) (*httpInput, error) {
	ctx, cancel := context.WithCancel(life)
	stop := context.AfterFunc(reqCtx, cancel) // the create request gave up
	defer stop()
	in := &httpInput{ctx: ctx, cancel: cancel, client: client, url: url, size: -1, floor: floor}
	resp, err := in.get(0)
	if err != nil {
		cancel()
		return nil, err
	}
	// The client had its answer: a later range or reconnect that fails
	// says so at once.
	in.floor = 0
	in.body = resp.Body
	in.size = resp.ContentLength
	in.seekable = resp.Header.Get("Accept-Ranges") == "bytes" && resp.ContentLength > 0
	return in, nil
}

func (in *httpInput) get(from int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(in.ctx, http.MethodGet, in.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	start := time.Now()
	resp, err := in.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateAddr) {
			// Not err itself: it names the address the host resolved to.
			return nil, errPrivate
		}
		// Not the dialer's words ("connection refused", "no route"), and
		// not sooner than a silent host's timeout: the URL's host did not
		// answer, whatever the reason.
		waitUntil(in.ctx, start.Add(in.floor))
		return nil, errNoAnswer
	}
	want := http.StatusOK
	if from > 0 {
		want = http.StatusPartialContent
	}
	if resp.StatusCode != want {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: the URL answers 404 Not Found", ErrNotFound)
		}
		return nil, fmt.Errorf("%w: the URL answers HTTP %d", decode.ErrUnreachable, resp.StatusCode)
	}
	return resp, nil
}

func (in *httpInput) Read(b []byte) (int, error) {
	if in.body == nil {
		if in.size >= 0 && in.pos >= in.size {
			return 0, io.EOF
		}
		resp, err := in.get(in.pos)
		if err != nil {
			return 0, err
		}
		in.body = resp.Body
	}
	n, err := in.body.Read(b)
	in.pos += int64(n)
	return n, err
}

func (in *httpInput) Seek(offset int64, whence int) (int64, error) {
	pos := offset
	switch whence {
	case io.SeekCurrent:
		pos += in.pos
	case io.SeekEnd:
		if in.size < 0 {
			return 0, errors.New("seek from the end of a stream of unknown size")
		}
		pos += in.size
	}
	if pos == in.pos {
		return pos, nil
	}
	if !in.seekable || pos < 0 {
		return 0, errors.New("the URL does not serve byte ranges")
	}
	if in.body != nil {
		in.body.Close()
		in.body = nil
	}
	in.pos = pos
	return pos, nil
}

// Size is the length the server announced, or -1.
func (in *httpInput) Size() int64 { return in.size }

func (in *httpInput) Close() error {
	in.cancel()
	if in.body != nil {
		in.body.Close()
		in.body = nil
	}
	return nil
}
