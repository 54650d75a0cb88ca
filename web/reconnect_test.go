package web

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/livetest"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/session"
)

// waitState polls the session until its state starts with want.
func waitState(t *testing.T, base, id, want string, within time.Duration) SessionInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var info SessionInfo
		json.Unmarshal(call(t, "GET", base+"/api/sessions/"+id, "", nil).body, &info)
		if strings.HasPrefix(info.State, want) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("session state %q after %v, want %q", info.State, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An RTSP camera (real server and publisher on loopback) whose publisher
// dies: the session shows "reconnecting", keeps its tracker and objects,
// and tracks the same object again once the publisher is back.
func TestSessionSurvivesRTSPRestart(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	srv := livetest.StartServer(t, "127.0.0.1:0")
	pub := livetest.Publish(t, clip, srv.URL("cam"))
	<-srv.Recording()

	trackers := 0
	cfg := Config{
		ModelSize: 64,
		NewTracker: func(context.Context, session.Spec) (session.Tracker, error) {
			trackers++
			return &colorTracker{color: [3]byte{230, 120, 40}}, nil
		},
		Analytics: events.Config{Frames: 2},
		Sources:   SourcePolicy{AllowURLs: true, AllowPrivateURLs: true}, // the camera is on loopback
		// A long limit: on a loaded machine ffmpeg may take seconds to start.
		Reconnect: decode.ReconnectOptions{MaxBackoff: 500 * time.Millisecond, GiveUpAfter: 2 * time.Minute},
	}
	_, hs := newServer(t, cfg)
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"camera":"door"}`, srv.URL("cam"))))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)
	if !s.Live {
		t.Fatalf("RTSP session not live: %+v", s)
	}
	sse := openSSE(t, hs.URL+"/api/events?session="+s.ID, "")
	var pr apiResult
	for deadline := time.Now().Add(testutil.Patience(20 * time.Second)); ; {
		if pr = promptOnColor(t, hs.URL, s.ID); pr.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pr.status != 200 {
		t.Fatalf("prompt: %d %s", pr.status, pr.body)
	}
	if _, e := sse.next(t); e.Kind != events.Appeared || e.Object != 1 {
		t.Fatalf("first event %+v, want object 1 appeared", e)
	}

	pub.Kill()
	lost := waitState(t, hs.URL, s.ID, "reconnecting", 30*time.Second)
	livetest.Publish(t, clip, srv.URL("cam"))
	<-srv.Recording()
	back := time.Now()
	info := waitState(t, hs.URL, s.ID, "playing", time.Minute)
	// Tracking resumes: the model finishes frames past the loss, with the
	// same object and the same tracker.
	for info.Tracked <= lost.Tracked+2 {
		if time.Since(back) > time.Minute {
			t.Fatalf("no tracking after the source came back: %+v", info)
		}
		time.Sleep(10 * time.Millisecond)
		json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil).body, &info)
	}
	t.Logf("tracking again %v after the publisher was back (frame %d; lost at frame %d)", time.Since(back).Round(time.Millisecond), info.Tracked, lost.Tracked)
	if !slices.Equal(info.Objects, []int{1}) || trackers != 1 {
		t.Errorf("objects %v with %d trackers, want object 1 kept by the one tracker", info.Objects, trackers)
	}
	if v, _ := value(scrape(t, hs.URL), "vidseg_session_reconnects_total", map[string]string{"session": s.ID}); v != 1 {
		t.Errorf("reconnects_total = %v, want 1", v)
	}

}

// A camera gone for longer than the limit ends as "lost", saying why.
func TestSessionLostAfterLimit(t *testing.T) {
	srv := livetest.StartServer(t, "127.0.0.1:0")
	pub := livetest.Publish(t, testutil.Clip(t, "moving_shape"), srv.URL("cam"))
	<-srv.Recording()
	_, hs := newServer(t, Config{Reconnect: decode.ReconnectOptions{MaxBackoff: 200 * time.Millisecond, GiveUpAfter: time.Second},
		Sources: SourcePolicy{AllowURLs: true, AllowPrivateURLs: true}})
	s := createSession(t, hs.URL, srv.URL("cam"))
	waitState(t, hs.URL, s.ID, "playing", 10*time.Second)
	srv.Stop()
	pub.Kill()
	end := waitState(t, hs.URL, s.ID, "lost", time.Minute)
	if !strings.Contains(end.State, "gone for longer than 1s") || !strings.Contains(end.State, "unreachable") {
		t.Errorf("end state %q", end.State)
	}
	if v, _ := value(scrape(t, hs.URL), "vidseg_session_state", map[string]string{"session": s.ID, "state": "lost"}); v != 1 {
		t.Errorf("state metric lost = %v", v)
	}
}
