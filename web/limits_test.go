package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

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
	// The model may move on to another frame between the two: corrections
	// add up only on the same frame, so retry until one lands on it.
	r = call(t, "POST", hs.URL+"/api/sessions/"+id+"/prompts", "application/json", strings.NewReader(points(pr.Object, 30)))
	if r.status != http.StatusBadRequest || !strings.Contains(r.errorText(t), "per object and frame") {
		t.Errorf("40 then 30 points on object %d: %d %s, want 400 (the limit holds over corrections)", pr.Object, r.status, r.body)
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
