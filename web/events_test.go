package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// colorTracker follows objects by colour: each prompted object is the
// set of pixels near the tracker's colour. It stands in for
// SAM 2 where a test needs results that follow the real video exactly
// (the random-weight fixture model tracks nothing meaningful); the frames,
// session pipeline and event delivery are all real.
type colorTracker struct {
	color  [3]byte
	mu     sync.Mutex
	last   *video.Frame
	colors map[int][3]byte
}

func (c *colorTracker) Track(ctx context.Context, f *video.Frame) (*tracker.FrameResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = f
	return c.result(f), nil
}

func (c *colorTracker) result(f *video.Frame) *tracker.FrameResult {
	res := &tracker.FrameResult{Frame: f.Index, Width: f.Width, Height: f.Height}
	for id, col := range c.colors {
		o := tracker.ObjectResult{Object: id, ObjectScore: -5}
		x0, y0, x1, y1, n := f.Width, f.Height, 0, 0, 0
		for y := 0; y < f.Height; y++ {
			for x := 0; x < f.Width; x++ {
				p := f.RGB[(y*f.Width+x)*3:]
				if near(p[0], col[0]) && near(p[1], col[1]) && near(p[2], col[2]) {
					x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
					n++
				}
			}
		}
		if n > 50 {
			o.ObjectScore, o.Visible = 5, true
			o.Box = mask.Box{X0: float32(x0), Y0: float32(y0), X1: float32(x1), Y1: float32(y1)}
		}
		res.Objects = append(res.Objects, o)
	}
	return res
}

func near(a, b byte) bool { return max(a, b)-min(a, b) < 40 }

func (c *colorTracker) Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || len(p.Points) == 0 {
		return nil, tracker.ErrEmptyPrompt
	}
	if c.colors == nil {
		c.colors = make(map[int][3]byte)
	}
	c.colors[p.Object] = c.color
	return c.result(c.last), nil
}

func (c *colorTracker) RemoveObject(id int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.colors, id)
	return nil
}

// sseClient reads /api/events.
type sseClient struct {
	resp  *http.Response
	lines chan string // closed at the end of the stream
}

func openSSE(t *testing.T, url, lastID string) *sseClient {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/api/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	c := &sseClient{resp: resp, lines: make(chan string, 64)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c
}

// next returns the next event and its SSE id, failing after 30s without one.
func (c *sseClient) next(t *testing.T) (string, events.Event) {
	t.Helper()
	var id, kind string
	timeout := time.After(30 * time.Second)
	for {
		var line string
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatal("event stream ended")
			}
			line = l
		case <-timeout:
			t.Fatal("no event within 30s")
		}
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			var e events.Event
			if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
				t.Fatal(err)
			}
			if string(e.Kind) != kind || id == "" {
				t.Fatalf("SSE event %q id %q carries %+v", kind, id, e)
			}
			return id, e
		}
	}
}

// The orange ellipse of moving_shape moves from (60,70) to (260,170) and
// the clip loops: it enters a zone on the right, crosses a line at x=160,
// and jumps back at each loop. Events reach SSE, a JSON Lines file and a
// webhook that fails its first tries, identical and without gaps.
func TestSessionAnalyticsEvents(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	var (
		mu       sync.Mutex
		hooked   []events.Event
		requests int
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if requests++; requests <= 2 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		var body struct{ Events []events.Event }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		hooked = append(hooked, body.Events...)
	}))
	defer receiver.Close()
	wh := events.NewWebhook(receiver.URL, events.WebhookOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	path := filepath.Join(t.TempDir(), "events.jsonl")
	file, err := events.OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ModelSize: 64,
		NewTracker: func(context.Context, session.Spec) (session.Tracker, error) {
			return &colorTracker{color: [3]byte{230, 120, 40}}, nil
		},
		EventSinks: []events.Sink{file, wh},
		Analytics:  events.Config{Frames: 2},
	}
	_, hs := newServer(t, cfg)
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"source":%q,"camera":"yard"}`, clip)))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)

	// Bad zones are refused with the reason.
	bad := call(t, "PUT", hs.URL+"/api/sessions/"+s.ID+"/zones", "application/json",
		strings.NewReader(`{"zones":[{"name":"z","polygon":[{"x":0,"y":0},{"x":5000,"y":0},{"x":0,"y":5}]}]}`))
	if bad.status != 400 || !strings.Contains(bad.errorText(t), "outside the 320x240 frame") {
		t.Errorf("zone outside the frame: %d %s", bad.status, bad.body)
	}
	geo := `{"zones":[{"name":"right","polygon":[{"x":150,"y":0},{"x":320,"y":0},{"x":320,"y":240},{"x":150,"y":240}]}],` +
		`"lines":[{"name":"gate","a":{"x":160,"y":0},"b":{"x":160,"y":240}}]}`
	if r := call(t, "PUT", hs.URL+"/api/sessions/"+s.ID+"/zones", "application/json", strings.NewReader(geo)); r.status != 200 {
		t.Fatalf("put zones: %d %s", r.status, r.body)
	}
	var got events.Geometry
	json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID+"/zones", "", nil).body, &got)
	if len(got.Zones) != 1 || len(got.Lines) != 1 || got.Lines[0].Name != "gate" {
		t.Fatalf("zones read back: %+v", got)
	}

	// A file session starts playing once someone watches.
	watch(t, hs.URL, s.ID)
	sse := openSSE(t, hs.URL+"/api/events?camera=yard", "")
	// Click the ellipse (the colour tracker follows its orange).
	promptOnColorReady(t, hs.URL, s.ID)

	// Read events until the object has entered and left the zone and
	// crossed the line both ways.
	var seen []events.Event
	need := map[string]bool{"appeared": true, "zone_enter": true, "zone_leave": true, "line_cross:in": true, "line_cross:out": true}
	deadline := time.Now().Add(testutil.Patience(30 * time.Second))
	for len(need) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still missing %v after %v", need, seen)
		}
		id, e := sse.next(t)
		seen = append(seen, e)
		k := string(e.Kind)
		if e.Direction != "" {
			k += ":" + e.Direction
		}
		delete(need, k)
		if len(seen) == 2 {
			// Reconnect with Last-Event-ID: the stream resumes without a gap.
			sse.resp.Body.Close()
			sse = openSSE(t, hs.URL+"/api/events?camera=yard", id)
		}
	}
	for i, e := range seen {
		if e.Camera != "yard" || e.Object != 1 || e.Seq != seen[0].Seq+uint64(i) || e.ID != fmt.Sprintf("yard:%d", e.Seq) {
			t.Fatalf("event %d: %+v (want camera yard, object 1, consecutive seq)", i, e)
		}
		if e.Wall.IsZero() || e.Frame < 0 {
			t.Errorf("event %+v lacks frame or wall time", e)
		}
		switch e.Kind {
		case events.ZoneEnter, events.ZoneLeave:
			if e.Zone != "right" {
				t.Errorf("zone event %+v", e)
			}
		case events.LineCross:
			if e.Line != "gate" {
				t.Errorf("line event %+v", e)
			}
			if e.Direction == "out" && e.X < 160 || e.Direction == "in" && e.X > 160 {
				t.Errorf("crossing %s ends at x=%g", e.Direction, e.X)
			}
		}
	}
	if seen[0].Kind != events.Appeared || seen[0].Seq != 1 {
		t.Errorf("first event %+v, want appeared with seq 1", seen[0])
	}

	// The webhook (after its failures) and the file have the same events.
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Patience(20*time.Second))
	defer cancel()
	for {
		mu.Lock()
		n := len(hooked)
		mu.Unlock()
		if n >= len(seen) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fromFile, err := events.ReadJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests < 3 {
		t.Errorf("receiver saw %d requests, want the 2 failures and more", requests)
	}
	for i, e := range seen {
		if i >= len(hooked) || hooked[i].ID != e.ID || hooked[i].Kind != e.Kind || hooked[i].Frame != e.Frame {
			t.Fatalf("webhook event %d differs from SSE %+v (webhook got %d)", i, e, len(hooked))
		}
		if i >= len(fromFile) || fromFile[i].ID != e.ID || !fromFile[i].Wall.Equal(e.Wall) {
			t.Fatalf("file event %d differs from SSE %+v", i, e)
		}
	}
	for i := 1; i < len(hooked); i++ {
		if hooked[i].Seq != hooked[i-1].Seq+1 {
			t.Fatalf("webhook seq %d after %d: lost or duplicated", hooked[i].Seq, hooked[i-1].Seq)
		}
	}
	var info SessionInfo
	json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil).body, &info)
	if info.Camera != "yard" || info.Events < int64(len(seen)) {
		t.Errorf("session info camera %q events %d", info.Camera, info.Events)
	}
	t.Logf("%d events, first %v; webhook got %d after %d requests", len(seen), seen[0], len(hooked), requests)
}

// promptOnColor clicks near the ellipse on the frame the model saw last.
// promptOnColorReady prompts on the ellipse once the session has
// tracked a frame (a prompt before is refused: nothing to click on).
func promptOnColorReady(t *testing.T, base, id string) {
	t.Helper()
	var pr apiResult
	for deadline := time.Now().Add(testutil.Patience(20 * time.Second)); ; {
		pr = promptOnColor(t, base, id)
		if pr.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pr.status != 200 {
		t.Fatalf("prompt: %d %s", pr.status, pr.body)
	}
}

func promptOnColor(t *testing.T, base, id string) apiResult {
	var info SessionInfo
	json.Unmarshal(call(t, "GET", base+"/api/sessions/"+id, "", nil).body, &info)
	if info.Tracked < 0 {
		return apiResult{status: 409}
	}
	// The ellipse's centre moves linearly from (60,70) on frame 0 to
	// (260,170) on frame 63.
	k := float64(info.Tracked%64) / 63
	x, y := 60+200*k, 70+100*k
	return call(t, "POST", base+"/api/sessions/"+id+"/prompts", "application/json",
		strings.NewReader(fmt.Sprintf(`{"object":0,"points":[{"x":%.0f,"y":%.0f,"positive":true}]}`, x, y)))
}

// The page draws a zone and a line with clicks on the video and stores
// them with the session, the line drawn while the zone's save is in flight.
func TestBrowserDrawsZones(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	ctx := browser(t)
	_, hs := newServer(t, Config{})
	s := createSession(t, hs.URL, clip)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/?session="+s.ID)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the session to load", `window.vidseg && vidseg.session && vidseg.zones && vidseg.zones.session === vidseg.sessionId`, 30*time.Second)
	// The stage has the picture's shape before the first frame arrives (a
	// stage that grew under the clicks once put a line's end at y=67).
	if ar := eval[string](t, ctx, `document.getElementById("video").style.aspectRatio`); ar != "320 / 240" {
		t.Errorf("video aspect-ratio %q once the session is known, want 320 / 240 (the stage must not grow under clicks)", ar)
	}
	poll(t, ctx, "the stage to take the video's shape", `(() => { const o = document.getElementById("overlay"); return o.clientWidth > 0 && Math.abs(o.clientWidth * 240 - o.clientHeight * 320) <= 2 * 320; })()`, 10*time.Second)
	clickAt := func(fx, fy float64) { t.Helper(); clickOverlay(t, ctx, fx, fy) }
	// Hold the zone's save until the line is drawn too, as a slow server
	// does: the line must not replace the zone still being stored.
	eval[bool](t, ctx, `(() => {
		const f = window.fetch;
		let held = false;
		const hold = new Promise((r) => { window.releaseZoneSave = r; });
		window.fetch = async (url, opts) => {
			if (!held && opts && opts.method === "PUT" && String(url).endsWith("/zones")) { held = true; await hold; }
			return f(url, opts);
		};
		return true;
	})()`)
	click(t, ctx, "#draw-zone")
	clickAt(0.5, 0.1)
	clickAt(0.9, 0.1)
	clickAt(0.9, 0.9)
	click(t, ctx, "#finish-shape")
	click(t, ctx, "#draw-line")
	clickAt(0.5, 0)
	clickAt(0.5, 0.99)
	eval[bool](t, ctx, `(window.releaseZoneSave(), true)`)
	poll(t, ctx, "the zone and line to be stored", `vidseg.zones.pending === 0 && vidseg.zones.geo.zones.length === 1 && vidseg.zones.geo.lines.length === 1`, 10*time.Second)
	var g events.Geometry
	json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID+"/zones", "", nil).body, &g)
	if len(g.Zones) != 1 || len(g.Zones[0].Polygon) != 3 || len(g.Lines) != 1 {
		t.Fatalf("stored geometry %+v", g)
	}
	near := func(p events.Point, x, y float64) bool { return abs(p.X-x) <= 3 && abs(p.Y-y) <= 3 }
	if z := g.Zones[0].Polygon; !near(z[0], 160, 24) || !near(z[1], 288, 24) || !near(z[2], 288, 216) {
		t.Errorf("zone %+v, want about (160,24) (288,24) (288,216)", z)
	}
	if l := g.Lines[0]; !near(l.A, 160, 0) || !near(l.B, 160, 238) {
		t.Errorf("line %+v", l)
	}
	// Drawing did not send prompts.
	if n := eval[int](t, ctx, `vidseg.prompts`); n != 0 {
		t.Errorf("%d prompts sent while drawing", n)
	}
	screenshot(t, ctx, "browser-zones.png")
}
