package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/vidseg/vidseg/internal/testutil"
)

// points is a prompt body with n positive clicks on object obj.
func points(obj, n int) string {
	pts := make([]string, n)
	for i := range pts {
		pts[i] = fmt.Sprintf(`{"x":%d,"y":%d,"positive":true}`, 20+i%200, 20+i%150)
	}
	return fmt.Sprintf(`{"object":%d,"points":[%s]}`, obj, strings.Join(pts, ","))
}

// promptReady posts a prompt, waiting while the model has no frame yet.
func promptReady(t *testing.T, base, id, body string) apiResult {
	t.Helper()
	var r apiResult
	waitFor(t, "the model's first frame", time.Minute, func() bool {
		r = call(t, "POST", base+"/api/sessions/"+id+"/prompts", "application/json", strings.NewReader(body))
		return r.status != http.StatusConflict
	})
	return r
}

// Issue 24, item 1: a prompt's points are capped, per prompt and added up
// over corrections on one object and frame, before the model sees them.
func TestPromptPointsCapped(t *testing.T) {
	cfg, ok := fixtureConfig(t, Config{PauseAfter: -1, IdleTimeout: -1})
	if !ok {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	id := createSession(t, hs.URL, testutil.Clip(t, "moving_shape")).ID

	r := promptReady(t, hs.URL, id, points(0, 65))
	if r.status != http.StatusBadRequest || !strings.Contains(r.errorText(t), "at most 64") {
		t.Fatalf("65 points in one prompt: %d %s, want 400 naming the limit of 64", r.status, r.body)
	}
	r = promptReady(t, hs.URL, id, points(0, 40))
	if r.status != http.StatusOK {
		t.Fatalf("40 points: %d %s", r.status, r.body)
	}
	var pr PromptResponse
	json.Unmarshal(r.body, &pr)
	// Corrections on the same frame add up: with no viewer the file holds
	// its first frame, so the model's latest frame stays the prompted one.
	r = call(t, "POST", hs.URL+"/api/sessions/"+id+"/prompts", "application/json", strings.NewReader(points(pr.Object, 30)))
	if r.status != http.StatusBadRequest || !strings.Contains(r.errorText(t), "per object and frame") {
		t.Errorf("40 then 30 points on object %d: %d %s, want 400 (the limit holds over corrections)", pr.Object, r.status, r.body)
	}
	// In an edit session clicks on one object and frame add up too.
	ed := createEditSession(t, hs.URL, testutil.Clip(t, "moving_shape")).ID
	onFrame := func(obj, n int) string { return strings.Replace(points(obj, n), "{", `{"frame":2,`, 1) }
	r = call(t, "POST", hs.URL+"/api/sessions/"+ed+"/prompts", "application/json", strings.NewReader(onFrame(0, 40)))
	if r.status != http.StatusOK {
		t.Fatalf("edit session, 40 points: %d %s", r.status, r.body)
	}
	json.Unmarshal(r.body, &pr)
	r = call(t, "POST", hs.URL+"/api/sessions/"+ed+"/prompts", "application/json", strings.NewReader(onFrame(pr.Object, 30)))
	if r.status != http.StatusBadRequest || !strings.Contains(r.errorText(t), "per object and frame") {
		t.Errorf("edit session, 40 then 30 points on object %d frame 2: %d %s, want 400", pr.Object, r.status, r.body)
	}
	// A mask must cover the frame exactly.
	r = call(t, "POST", hs.URL+"/api/sessions/"+id+"/prompts", "application/json",
		strings.NewReader(`{"object":0,"mask":{"size":[240,320],"counts":[5,5]}}`))
	if r.status != http.StatusBadRequest {
		t.Errorf("mask whose runs cover 10 of 76800 pixels: %d %s, want 400", r.status, r.body)
	}
}

// Issue 24, item 1: a prompt's model time is bounded, and counted against
// its session's budget: once spent, the session's prompts are refused
// (429) while other sessions' are not.
func TestPromptModelTimeBounded(t *testing.T) {
	cfg, ok := fixtureConfig(t, Config{PauseAfter: -1, IdleTimeout: -1, PromptBudget: time.Nanosecond})
	if !ok {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	clip := testutil.Clip(t, "moving_shape")
	a, b := createSession(t, hs.URL, clip).ID, createSession(t, hs.URL, clip).ID
	if r := promptReady(t, hs.URL, a, points(0, 1)); r.status != http.StatusOK {
		t.Fatalf("first prompt: %d %s", r.status, r.body)
	}
	r := call(t, "POST", hs.URL+"/api/sessions/"+a+"/prompts", "application/json", strings.NewReader(points(0, 1)))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.errorText(t), "model time") {
		t.Errorf("prompt after the budget is spent: %d %s, want 429", r.status, r.body)
	}
	var info SessionInfo
	json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+a, "", nil).body, &info)
	if info.PromptSeconds <= 0 {
		t.Errorf("session shows %v s of prompt model time, want the first prompt's", info.PromptSeconds)
	}
	if r := promptReady(t, hs.URL, b, points(0, 1)); r.status != http.StatusOK {
		t.Errorf("another session's prompt: %d %s, want 200 (budgets are per session)", r.status, r.body)
	}
}

// Issue 24, item 1: a prompt the model does not finish in time is refused.
func TestPromptTimeout(t *testing.T) {
	cfg, ok := fixtureConfig(t, Config{PauseAfter: -1, IdleTimeout: -1, PromptTimeout: time.Nanosecond})
	if !ok {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	c := createSession(t, hs.URL, testutil.Clip(t, "moving_shape")).ID
	r := promptReady(t, hs.URL, c, points(0, 1))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorText(t), "took longer than") {
		t.Errorf("prompt past its timeout: %d %s, want 503", r.status, r.body)
	}
}

// stalledUpload sends a multipart upload's headers and its file's first
// kilobyte, announcing ten megabytes, then stops.
func stalledUpload(t *testing.T, base string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	part := "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\nContent-Type: application/octet-stream\r\n\r\n" + strings.Repeat("x", 1000)
	fmt.Fprintf(c, "POST /api/sessions HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10000000\r\n\r\n%s", u.Host, part)
	return c
}

// uploadsStored counts the uploads being written to dir.
func uploadsStored(t *testing.T, dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "vidseg-upload-*"))
	return len(m)
}

// Issue 24, item 3: stalled uploads hold no session slot (8 of them
// blocked every session before), and uploads are capped per client.
func TestStalledUploadsHoldNoSlot(t *testing.T) {
	dir := t.TempDir()
	_, hs := newServer(t, Config{MaxSessions: 1, UploadDir: dir, BodyGrace: -1})
	stalledUpload(t, hs.URL)
	stalledUpload(t, hs.URL)
	waitFor(t, "both uploads to reach the server", 30*time.Second, func() bool { return uploadsStored(t, dir) == 2 })
	info := createSession(t, hs.URL, testutil.Clip(t, "moving_shape"))
	t.Logf("with two uploads stalled, session %s opened", info.ID)
	body, ct := multipartBody(t, "clip.mp4", []byte("x"))
	r := call(t, "POST", hs.URL+"/api/sessions", ct, body)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.errorText(t), "from your address") {
		t.Errorf("a third upload from one address: %d %s, want 429", r.status, r.body)
	}
}

// Issue 24, item 3: an upload must keep a minimum rate after a grace, or
// its connection is cut and its upload slot freed.
func TestStalledUploadCutOff(t *testing.T) {
	dir := t.TempDir()
	_, hs := newServer(t, Config{UploadDir: dir, BodyGrace: 300 * time.Millisecond})
	c := stalledUpload(t, hs.URL)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("stalled upload: %v, want an answer (408) and the connection closed", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled upload: %d, want 408", resp.StatusCode)
	}
	waitFor(t, "the stalled upload's file to go", 30*time.Second, func() bool { return uploadsStored(t, dir) == 0 })
}

// offer is a WebRTC offer that never connects: no ICE follows it.
func offer(t *testing.T, dir webrtc.RTPTransceiverDirection) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// Issue 24, items 3 and 6: WHEP viewers are capped per session and in all
// (1,000 offers without ICE were all answered 201), WHIP publishers and
// event streams per client address.
func TestViewersAndStreamsCapped(t *testing.T) {
	_, hs := newServer(t, Config{ViewersPerSession: 2, Viewers: 3, WHIPPerClient: 1, EventStreamsPerClient: 2})
	clip := testutil.Clip(t, "moving_shape")
	a, b := createSession(t, hs.URL, clip).ID, createSession(t, hs.URL, clip).ID
	sdp := offer(t, webrtc.RTPTransceiverDirectionRecvonly)
	whep := func(id string) int {
		return call(t, "POST", hs.URL+"/api/sessions/"+id+"/whep", "application/sdp", strings.NewReader(sdp)).status
	}
	got := []int{whep(a), whep(a), whep(a), whep(b), whep(b)}
	want := []int{201, 201, 429, 201, 429} // 2 per session, 3 in all
	if !slices.Equal(got, want) {
		t.Errorf("WHEP offers answered %v, want %v", got, want)
	}

	pub := offer(t, webrtc.RTPTransceiverDirectionSendonly)
	if r := call(t, "POST", hs.URL+"/api/whip", "application/sdp", strings.NewReader(pub)); r.status != http.StatusCreated {
		t.Fatalf("WHIP offer: %d %s", r.status, r.body)
	}
	if r := call(t, "POST", hs.URL+"/api/whip", "application/sdp", strings.NewReader(pub)); r.status != http.StatusTooManyRequests {
		t.Errorf("a second WHIP offer from one address: %d %s, want 429", r.status, r.body)
	}

	for range 2 {
		sse := openSSE(t, hs.URL+"/api/events", "")
		defer sse.resp.Body.Close()
	}
	if r := call(t, "GET", hs.URL+"/api/events", "", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("a third event stream from one address: %d %s, want 429", r.status, r.body)
	}
}

// Issue 24, item 8: an idle event stream does not hold its place forever.
func TestEventStreamLifetime(t *testing.T) {
	_, hs := newServer(t, Config{EventStreamLifetime: 200 * time.Millisecond})
	resp, err := http.Get(hs.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("event stream ended with %v, want its end", err)
		}
	case <-time.After(time.Minute):
		t.Error("an idle event stream is still open after a minute (lifetime 200 ms)")
	}
}
