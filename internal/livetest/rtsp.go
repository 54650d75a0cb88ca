// Package livetest runs live video servers on loopback for tests of live
// sources that come and go: a real RTSP server (gortsplib) fed by an FFmpeg
// publisher, and an HTTP server streaming MPEG-TS from FFmpeg. Only tests
// import it.
package livetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// Server is an RTSP relay like mediamtx: a publisher ANNOUNCEs and RECORDs
// a path, readers DESCRIBE and PLAY it. It serves RTP over TCP only.
type Server struct {
	Addr string // host:port

	mu        sync.Mutex
	s         *gortsplib.Server
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	recording chan struct{} // closed when a publisher starts recording
	redirect  string        // answer DESCRIBE with 302 to this URL
}

// Redirect makes the server answer every DESCRIBE with 302 Found to the
// URL to, as a server pointing its clients elsewhere does.
func (h *Server) Redirect(to string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redirect = to
}

// StartServer listens on addr ("127.0.0.1:0" picks a port).
func StartServer(t testing.TB, addr string) *Server {
	t.Helper()
	if addr == "" || addr == "127.0.0.1:0" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	srv := &Server{Addr: addr}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// Start (re)starts the server on its address.
func (h *Server) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.s != nil {
		return errors.New("livetest: server already running")
	}
	h.recording = make(chan struct{})
	s := &gortsplib.Server{Handler: h, RTSPAddress: h.Addr}
	var err error
	for range 50 { // the port may linger briefly after Stop
		if err = s.Start(); err == nil {
			h.s = s
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("livetest: start on %s: %w", h.Addr, err)
}

// Stop closes the server and every connection, as a crash would.
func (h *Server) Stop() {
	h.mu.Lock()
	s := h.s
	h.s = nil
	if h.stream != nil {
		h.stream.Close()
		h.stream = nil
	}
	h.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// URL is the stream's address.
func (h *Server) URL(path string) string { return "rtsp://" + h.Addr + "/" + path }

// Recording is closed once a publisher is recording on the current run.
func (h *Server) Recording() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recording
}

func (h *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream != nil && ctx.Session == h.publisher {
		h.stream.Close() // disconnects the readers
		h.stream = nil
		h.recording = make(chan struct{})
	}
}

func (h *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.redirect != "" {
		return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{h.redirect}}}, nil, nil
	}
	if h.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *Server) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream != nil {
		h.stream.Close()
		h.publisher.Close()
	}
	h.stream = gortsplib.NewServerStream(h.s, ctx.Description)
	h.publisher = ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if ctx.Session == h.publisher {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	h.mu.Lock()
	stream := h.stream
	close(h.recording)
	h.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = stream.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// Publisher is an ffmpeg process publishing a clip, looped and re-encoded
// with short GOPs so a reader that joins decodes within a few frames.
type Publisher struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Publish starts ffmpeg publishing clip to url; t's cleanup kills it.
func Publish(t testing.TB, clip, url string) *Publisher {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("needs the ffmpeg command to publish an RTSP stream")
	}
	cmd := exec.CommandContext(context.Background(), bin, "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip,
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p",
		"-f", "rtsp", "-rtsp_transport", "tcp", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Publisher{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

// Kill stops the publisher at once (SIGKILL) and waits for it.
func (p *Publisher) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}
