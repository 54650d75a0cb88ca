package web

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of the per-client caps and body deadlines (Config fields of
// the same names).
const (
	// DefaultUploadsPerClient: uploads in flight from one client address
	// (a page sends one at a time).
	DefaultUploadsPerClient = 2
	// DefaultUploads: uploads in flight in all; a finished upload then
	// needs a session slot.
	DefaultUploads = 16
	// DefaultEventStreamsPerClient: /api/events streams of one client
	// address (a page opens one).
	DefaultEventStreamsPerClient = 8
	// DefaultEventStreamLifetime: an event stream is closed after this
	// long, so an idle client cannot hold one forever; EventSource
	// reconnects by itself and resumes with Last-Event-ID.
	DefaultEventStreamLifetime = 30 * time.Minute
	// DefaultViewersPerSession and DefaultViewers cap WHEP viewers: each
	// holds a peer connection (about 7 file descriptors and 20
	// goroutines).
	DefaultViewersPerSession = 32
	DefaultViewers           = 128
	// DefaultWHIPPerClient: WHIP publishers of one client address.
	DefaultWHIPPerClient = 2
	// DefaultBodyGrace and DefaultBodyMinRate: a request body (an upload)
	// must arrive at BodyMinRate bytes a second on average after a grace
	// of BodyGrace, or the connection is closed.
	DefaultBodyGrace   = 10 * time.Second
	DefaultBodyMinRate = 32 << 10
)

// limits are the caps the HTTP face keeps per client address.
type limits struct {
	uploads, eventStreams, whip *perClient
}

func newLimits(c Config) limits {
	return limits{
		uploads:      newPerClient("uploads", c.UploadsPerClient, DefaultUploads),
		eventStreams: newPerClient("event streams", c.EventStreamsPerClient, 0),
		whip:         newPerClient("WHIP publishers", c.WHIPPerClient, 0),
	}
}

// perClient counts what each client address holds against a cap per
// address and one in all (0: none).
type perClient struct {
	what           string
	perAddr, total int

	mu  sync.Mutex
	n   map[string]int
	all int
}

func newPerClient(what string, perAddr, total int) *perClient {
	return &perClient{what: what, perAddr: perAddr, total: total, n: make(map[string]int)}
}

// clientAddr is the request's peer address without the port.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// take counts one for r's client; release gives it back (once).
func (l *perClient) take(r *http.Request) (release func(), err error) {
	addr := clientAddr(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr > 0 && l.n[addr] >= l.perAddr {
		return nil, &statusError{http.StatusTooManyRequests, fmt.Errorf("too many %s from your address (at most %d at once); end one first", l.what, l.perAddr)}
	}
	if l.total > 0 && l.all >= l.total {
		return nil, &statusError{http.StatusTooManyRequests, fmt.Errorf("too many %s on this server (at most %d at once); try again later", l.what, l.total)}
	}
	l.n[addr]++
	l.all++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.n[addr]--; l.n[addr] <= 0 {
				delete(l.n, addr)
			}
			l.all--
		})
	}, nil
}

// minRateBody makes a request body arrive at a minimum rate: after each
// read the connection's read deadline moves to when the bytes so far
// would fall behind rate bytes a second, after a grace. A client that
// trickles or stops is cut off instead of holding its upload slot.
type minRateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  float64
	n     int64
}

// withMinRate applies a minimum rate to r's body until done is called.
func withMinRate(w http.ResponseWriter, r *http.Request, grace time.Duration, rate int64) (done func()) {
	if grace <= 0 || rate <= 0 {
		return func() {}
	}
	b := &minRateBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(), grace: grace, rate: float64(rate)}
	b.extend()
	r.Body = b
	// The deadline must not outlive the body: the next request on a
	// kept-alive connection has its own.
	return func() { _ = b.rc.SetReadDeadline(time.Time{}) }
}

func (b *minRateBody) extend() {
	ahead := time.Duration(float64(b.n) / b.rate * float64(time.Second))
	// Not all connections take deadlines (HTTP/2 tests); the body size
	// limit still holds there.
	_ = b.rc.SetReadDeadline(b.start.Add(b.grace + ahead))
}

func (b *minRateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.extend()
	return n, err
}
