package livetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// HTTPStream serves a clip as a live MPEG-TS stream over HTTP (as IP
// cameras and encoders do): each GET gets its own ffmpeg encoding the
// clip, looped, at its real rate, for as long as the client reads.
type HTTPStream struct {
	Addr string
	clip string
	bin  string

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
	cmds map[*exec.Cmd]struct{}
	up   chan struct{} // closed once a client is being served on this run
}

// StartHTTP serves clip on a loopback port; t's cleanup stops it.
func StartHTTP(t testing.TB, clip string) *HTTPStream {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("needs the ffmpeg command to stream MPEG-TS")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &HTTPStream{Addr: ln.Addr().String(), clip: clip, bin: bin}
	h.serve(ln)
	t.Cleanup(h.Stop)
	return h
}

// URL is the stream's address.
func (h *HTTPStream) URL() string { return "http://" + h.Addr + "/live.ts" }

// Serving is closed once a client is being sent video on this run.
func (h *HTTPStream) Serving() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up
}

// Start serves again on the same address after Stop.
func (h *HTTPStream) Start() error {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", h.Addr); err == nil {
			h.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("livetest: listen on %s: %w", h.Addr, err)
}

func (h *HTTPStream) serve(ln net.Listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srv = &http.Server{Handler: http.HandlerFunc(h.handle)}
	h.done = make(chan struct{})
	h.cmds = make(map[*exec.Cmd]struct{})
	h.up = make(chan struct{})
	srv, done := h.srv, h.done
	go func() { _ = srv.Serve(ln); close(done) }()
}

// Stop closes the listener and every connection and kills the encoders,
// as a crash of the server would.
func (h *HTTPStream) Stop() {
	h.mu.Lock()
	srv, done := h.srv, h.done
	h.srv = nil
	for cmd := range h.cmds {
		_ = cmd.Process.Kill()
	}
	h.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

func (h *HTTPStream) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/live.ts" {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", h.clip,
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p",
		"-f", "mpegts", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	h.mu.Lock()
	if h.srv == nil {
		h.mu.Unlock()
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		http.Error(w, err.Error(), 500)
		return
	}
	h.cmds[cmd] = struct{}{}
	select {
	case <-h.up:
	default:
		close(h.up)
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.cmds, cmd)
		h.mu.Unlock()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	w.Header().Set("Content-Type", "video/mp2t")
	buf := make([]byte, 32<<10)
	fl, _ := w.(http.Flusher)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return // io.EOF when ffmpeg is killed, or a read error
		}
	}
}
