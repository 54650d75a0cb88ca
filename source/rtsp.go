package source

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rtspRelay is the only way FFmpeg reaches an RTSP server: FFmpeg connects
// to a loopback listener of the relay, which connects to the address the
// policy checked (again checked by its dialer) and passes the bytes
// through, reading the server's answers as it does. A redirect (a 3xx
// answer) ends the connection before FFmpeg sees it, so FFmpeg, which
// follows redirects on its own, never connects anywhere the policy did
// not check. With interleaved TCP (decode.Options.RTSPTCP) the media
// flows through the relay too.
type rtspRelay struct {
	ln     net.Listener
	dst    string // host:port, an address checked by the policy
	dialer *net.Dialer
	floor  time.Duration // the least time a failure to connect takes

	mu  sync.Mutex
	err error // why the relay ended the connection, if it did
}

// relayAccept bounds the wait for FFmpeg's connection: a decoder that
// failed before connecting leaves no listener behind for long.
const relayAccept = 30 * time.Second

// maxRTSPHeader bounds one RTSP message's header from the server.
const maxRTSPHeader = 64 << 10

// startRTSPRelay listens on loopback for FFmpeg's connection to dst until
// life ends, the connection ends, or none comes within relayAccept.
func startRTSPRelay(life context.Context, dst string, allowPrivate bool, timeout, floor time.Duration) (*rtspRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rtsp relay: %w", err)
	}
	r := &rtspRelay{ln: ln, dst: dst, floor: floor, dialer: &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return errPrivate
			}
			return checkAddr(ap.Addr(), allowPrivate)
		},
	}}
	go r.serve(life)
	return r, nil
}

// Addr is where FFmpeg connects.
func (r *rtspRelay) Addr() string { return r.ln.Addr().String() }

// Err is why the relay ended FFmpeg's connection (a redirect refused,
// no answer from the server), or nil.
func (r *rtspRelay) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *rtspRelay) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *rtspRelay) serve(life context.Context) {
	defer r.ln.Close()
	t := time.AfterFunc(relayAccept, func() { r.ln.Close() })
	stop := context.AfterFunc(life, func() { r.ln.Close() })
	defer stop()
	// One connection: FFmpeg's RTSP session uses one (interleaved TCP or
	// not); a reconnect resolves the source again and gets a new relay.
	client, err := r.ln.Accept()
	t.Stop()
	if err != nil {
		return
	}
	r.ln.Close()
	r.relay(life, client)
}

func (r *rtspRelay) relay(life context.Context, client net.Conn) {
	defer client.Close()
	ctx, cancel := context.WithCancel(life)
	defer cancel()
	start := time.Now()
	server, err := r.dialer.DialContext(ctx, "tcp", r.dst)
	if err != nil {
		if errors.Is(err, ErrPrivateAddr) {
			r.fail(errPrivate)
		} else {
			// Not the dialer's words: they tell what listens where; and
			// FFmpeg's connection ends no sooner than a silent host's
			// would, so its failure's time tells nothing either.
			r.fail(errNoAnswer)
			waitUntil(ctx, start.Add(r.floor))
		}
		return
	}
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); server.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(server, client) // FFmpeg's requests, as they are
		cancel()
	}()
	// answers ends with the connection; only a refusal is worth saying.
	var refused *refusedError
	if err := r.answers(client, server); errors.As(err, &refused) {
		r.fail(err)
	}
}

// refusedError is an answer of the server the relay does not pass on.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return ErrNotAllowed }

// answers copies the server's side to FFmpeg: interleaved media frames
// ('$', channel, 16-bit length) as they are, RTSP messages after reading
// their header, refusing redirects.
func (r *rtspRelay) answers(client io.Writer, server io.Reader) error {
	br := bufio.NewReaderSize(server, 32<<10)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return err
		}
		if b[0] == '$' {
			hdr, err := br.Peek(4)
			if err != nil {
				return err
			}
			n := 4 + int(binary.BigEndian.Uint16(hdr[2:]))
			if _, err := io.CopyN(client, br, int64(n)); err != nil {
				return err
			}
			continue
		}
		head, length, err := readRTSPHeader(br)
		if err != nil {
			return err
		}
		if code, ok := rtspStatus(head); ok && code >= 300 && code < 400 {
			return &refusedError{fmt.Sprintf("the RTSP server redirects (%d); redirects are not followed", code)}
		}
		if _, err := client.Write(head); err != nil {
			return err
		}
		if _, err := io.CopyN(client, br, length); err != nil {
			return err
		}
	}
}

// readRTSPHeader reads an RTSP message's header (up to the empty line)
// and its Content-Length.
func readRTSPHeader(br *bufio.Reader) (head []byte, length int64, err error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, 0, errors.New("rtsp relay: header line too long")
			}
			return nil, 0, err
		}
		head = append(head, line...)
		if len(head) > maxRTSPHeader {
			return nil, 0, errors.New("rtsp relay: header too long")
		}
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			return head, length, nil
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || n > 1<<20 {
				return nil, 0, fmt.Errorf("rtsp relay: Content-Length %q", v)
			}
			length = n
		}
	}
}

// rtspStatus is a response's status code ("RTSP/1.0 302 Found").
func rtspStatus(head []byte) (int, bool) {
	line, _, _ := strings.Cut(string(head), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "RTSP/") {
		return 0, false // a request of the server's (ANNOUNCE, GET_PARAMETER)
	}
	code, err := strconv.Atoi(f[1])
	return code, err == nil
}
