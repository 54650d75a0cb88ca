package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/session"
)

// scrape reads /metrics and returns the families by name.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value finds the series of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// Two servers in one process each have their own registry; a session's
// series follow what it does and vanish when it is deleted.
func TestMetrics(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	cfg := Config{
		ModelSize: 64,
		NewTracker: func(context.Context, session.Spec) (session.Tracker, error) {
			return &colorTracker{color: [3]byte{230, 120, 40}}, nil
		},
	}
	_, hs := newServer(t, cfg)
	_, other := newServer(t, Config{})
	r := call(t, "POST", hs.URL+"/api/sessions", "application/json", strings.NewReader(`{"source":"`+clip+`","camera":"gate"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s SessionInfo
	json.Unmarshal(r.body, &s)
	v := watch(t, hs.URL, s.ID)
	v.WaitMessages(t, 3, 20*time.Second)
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
	// Wait for the object's "appeared" event.
	for deadline := time.Now().Add(testutil.Patience(20 * time.Second)); ; {
		var info SessionInfo
		json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil).body, &info)
		if info.Events > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event raised")
		}
		time.Sleep(20 * time.Millisecond)
	}

	fams := scrape(t, hs.URL)
	sel := map[string]string{"session": s.ID, "camera": "gate"}
	for name, check := range map[string]func(float64) bool{
		"vidseg_session_viewers":                func(v float64) bool { return v == 1 },
		"vidseg_session_model_frames_total":     func(v float64) bool { return v > 0 },
		"vidseg_session_frames_sent_total":      func(v float64) bool { return v > 0 },
		"vidseg_session_source_fps":             func(v float64) bool { return v > 0 },
		"vidseg_session_model_fps":              func(v float64) bool { return v > 0 },
		"vidseg_session_events_total":           func(v float64) bool { return v >= 1 },
		"vidseg_session_reconnects_total":       func(v float64) bool { return v == 0 },
		"vidseg_session_prompt_latency_seconds": func(v float64) bool { return v == 1 },
	} {
		got, ok := value(fams, name, sel)
		if !ok || !check(got) {
			t.Errorf("%s{session=%s} = %v (present %v)", name, s.ID, got, ok)
		}
	}
	for _, reason := range []string{"pace", "model"} {
		if _, ok := value(fams, "vidseg_session_dropped_frames_total", map[string]string{"session": s.ID, "reason": reason}); !ok {
			t.Errorf("no dropped_frames_total{reason=%s}", reason)
		}
	}
	if v, ok := value(fams, "vidseg_session_state", map[string]string{"session": s.ID, "state": "playing"}); !ok || v != 1 {
		t.Errorf("state playing = %v %v", v, ok)
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	// The other server's registry knows nothing of this session.
	if v, _ := value(scrape(t, other.URL), "vidseg_sessions", nil); v != 0 {
		t.Errorf("other server reports %v sessions", v)
	}

	if r := call(t, "DELETE", hs.URL+"/api/sessions/"+s.ID, "", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	fams = scrape(t, hs.URL)
	if _, ok := value(fams, "vidseg_session_viewers", sel); ok {
		t.Error("deleted session still has series")
	}
	if v, _ := value(fams, "vidseg_sessions", nil); v != 0 {
		t.Errorf("vidseg_sessions = %v after delete", v)
	}
}
