package decode_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/livetest"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/video"
)

// stateLog records OnState calls.
type stateLog chan string

func (s stateLog) on(state string, err error) {
	select {
	case s <- state:
	default:
	}
}

func (s stateLog) wait(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-s:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q state within %v", want, within)
		}
	}
}

// reader pulls frames in the background, as a session does.
type reader struct {
	frames chan *video.Frame
	err    chan error
}

// read reads r until ctx ends, then closes it; t's cleanup waits for that.
func read(t *testing.T, ctx context.Context, r *decode.Reconnecting) *reader {
	rd := &reader{frames: make(chan *video.Frame, 1000), err: make(chan error, 1)}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer r.Close()
		for {
			f, err := r.Next(ctx)
			if err != nil {
				rd.err <- err
				return
			}
			rd.frames <- f
		}
	}()
	return rd
}

// next returns the next frame or fails.
func (rd *reader) next(t *testing.T, within time.Duration) *video.Frame {
	t.Helper()
	select {
	case f := <-rd.frames:
		return f
	case err := <-rd.err:
		t.Fatalf("source ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no frame within %v", within)
	}
	return nil
}

// drain drops frames already read.
func (rd *reader) drain() *video.Frame {
	var last *video.Frame
	for {
		select {
		case f := <-rd.frames:
			last = f
		default:
			return last
		}
	}
}

// An RTSP server on loopback and an ffmpeg publisher: kill the publisher,
// then the server; each time the stream says "reconnecting", and resumes
// once they are back, with frame indices and PTS continuing.
func TestRTSPReconnects(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	srv := livetest.StartServer(t, "127.0.0.1:0")
	pub := livetest.Publish(t, clip, srv.URL("cam"))
	<-srv.Recording()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	states := make(stateLog, 16)
	src, err := decode.OpenReconnecting(ctx, srv.URL("cam"), decode.Options{Timeout: 5 * time.Second},
		// A long limit: on a loaded machine ffmpeg may take seconds to start.
		decode.ReconnectOptions{MaxBackoff: 500 * time.Millisecond, GiveUpAfter: 2 * time.Minute, OnState: states.on})
	if err != nil {
		t.Fatal(err)
	}
	if info := src.Info(); !info.Live || info.Width != 320 || info.Height != 240 {
		t.Fatalf("info %+v", info)
	}
	rd := read(t, ctx, src)
	for range 10 {
		rd.next(t, 10*time.Second)
	}

	check := func(what string, restart func()) {
		t.Helper()
		states.wait(t, "reconnecting", 15*time.Second)
		before := rd.drain()
		time.Sleep(300 * time.Millisecond) // gone for a while
		restart()
		<-srv.Recording()
		back := time.Now()
		f := rd.next(t, time.Minute)
		resumed := time.Since(back)
		states.wait(t, "playing", time.Second)
		t.Logf("%s: first frame %v after the publisher was back (frame %d, pts %v; before the loss frame %d, pts %v)",
			what, resumed.Round(time.Millisecond), f.Index, f.PTS, before.Index, before.PTS)
		if f.Index != before.Index+1 || f.PTS <= before.PTS+300*time.Millisecond || f.Width != 320 || f.Height != 240 {
			t.Errorf("%s: frame %d pts %v after frame %d pts %v: want the next index, PTS advanced by the outage", what, f.Index, f.PTS, before.Index, before.PTS)
		}
		// Well past the 2s goal means the backoff or reopen is broken, not a slow machine.
		if resumed > 10*time.Second {
			t.Errorf("%s: resumed %v after the source was back", what, resumed)
		}
		for range 5 {
			rd.next(t, 10*time.Second)
		}
	}

	pub.Kill()
	check("publisher killed", func() { pub = livetest.Publish(t, clip, srv.URL("cam")) })

	srv.Stop()
	pub.Kill()
	check("server killed", func() {
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		pub = livetest.Publish(t, clip, srv.URL("cam"))
	})
	if n := src.Reconnects(); n != 2 {
		t.Errorf("%d reconnects, want 2", n)
	}
}

// A source gone longer than GiveUpAfter ends with ErrSourceLost.
func TestRTSPGivesUp(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	srv := livetest.StartServer(t, "127.0.0.1:0")
	pub := livetest.Publish(t, clip, srv.URL("cam"))
	<-srv.Recording()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := decode.OpenReconnecting(ctx, srv.URL("cam"), decode.Options{Timeout: 5 * time.Second},
		decode.ReconnectOptions{MaxBackoff: 200 * time.Millisecond, GiveUpAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rd := read(t, ctx, src)
	rd.next(t, 10*time.Second)
	srv.Stop()
	pub.Kill()
	lost := time.Now()
	var gone error
	for gone == nil {
		select {
		case <-rd.frames:
		case gone = <-rd.err:
		case <-time.After(30 * time.Second):
			t.Fatal("still waiting for the source 30s after it went")
		}
	}
	if !errors.Is(gone, decode.ErrSourceLost) || !errors.Is(gone, decode.ErrUnreachable) {
		t.Errorf("error %v, want ErrSourceLost wrapping the last ErrUnreachable", gone)
	}
	t.Logf("gave up %v after the server went: %v", time.Since(lost).Round(time.Millisecond), gone)
	if _, err := src.Next(ctx); !errors.Is(err, decode.ErrSourceLost) {
		t.Errorf("Next after giving up: %v", err)
	}
}

// The same over HTTP: a live MPEG-TS stream whose server goes away and
// comes back on the same address.
func TestHTTPLiveReconnects(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	hs := livetest.StartHTTP(t, clip)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	states := make(stateLog, 16)
	src, err := decode.OpenReconnecting(ctx, hs.URL(), decode.Options{Timeout: 5 * time.Second},
		// A long limit: on a loaded machine ffmpeg may take seconds to start.
		decode.ReconnectOptions{MaxBackoff: 500 * time.Millisecond, GiveUpAfter: 2 * time.Minute, OnState: states.on})
	if err != nil {
		t.Fatal(err)
	}
	if info := src.Info(); !info.Live || info.Width != 320 {
		t.Fatalf("info %+v, want a live 320-wide stream", info)
	}
	rd := read(t, ctx, src)
	for range 10 {
		rd.next(t, 10*time.Second)
	}
	hs.Stop()
	states.wait(t, "reconnecting", 15*time.Second)
	before := rd.drain()
	time.Sleep(300 * time.Millisecond)
	if err := hs.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	f := rd.next(t, 15*time.Second)
	resumed := time.Since(back)
	t.Logf("HTTP server restarted: first frame %v after it listened again (frame %d after %d)", resumed.Round(time.Millisecond), f.Index, before.Index)
	if f.Index != before.Index+1 || f.PTS <= before.PTS {
		t.Errorf("frame %d pts %v after frame %d pts %v", f.Index, f.PTS, before.Index, before.PTS)
	}
	if resumed > 10*time.Second {
		t.Errorf("resumed %v after the source was back", resumed)
	}
	if src.Reconnects() != 1 {
		t.Errorf("%d reconnects, want 1", src.Reconnects())
	}
}
