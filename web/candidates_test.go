package web

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
)

// editAPI opens moving_shape as an edit session with the fixture model
// (no browser); base is its API path.
func editAPI(t *testing.T) (*httptest.Server, SessionInfo, string) {
	t.Helper()
	clip := testutil.Clip(t, "moving_shape")
	cfg, ok := fixtureConfig(t, Config{})
	if !ok {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	s := createEditSession(t, hs.URL, clip)
	return hs, s, hs.URL + "/api/sessions/" + s.ID
}

// rleIoU is the IoU of two RLE masks of one frame.
func rleIoU(t *testing.T, a, b mask.RLE) float64 {
	t.Helper()
	ma, err := a.Decode()
	if err != nil {
		t.Fatal(err)
	}
	mb, err := b.Decode()
	if err != nil {
		t.Fatal(err)
	}
	v, err := mask.IoU(ma, mb)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Issue 27: the answer to a click carries every candidate mask of the
// decoder with its predicted IoU, the tracker's choice marked, and the
// user can pick another: it becomes the object's mask on that frame.
func TestPromptCandidatesAndPick(t *testing.T) {
	hs, s, base := editAPI(t)
	post := func(body string) apiResult {
		t.Helper()
		return call(t, "POST", base+"/prompts", "application/json", strings.NewReader(body))
	}
	r := post(`{"object":0,"frame":3,"points":[{"x":160,"y":120,"positive":true}]}`)
	if r.status != 200 {
		t.Fatalf("click: %d %s", r.status, r.body)
	}
	var pr PromptResponse
	if err := json.Unmarshal(r.body, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Candidates) != 4 {
		t.Fatalf("the click's answer has %d candidates, want the decoder's 4: %s", len(pr.Candidates), r.body)
	}
	chosen, pick := -1, -1
	for i, c := range pr.Candidates {
		if c.Token != i || c.Mask.Width != 320 || c.Mask.Height != 240 || c.Area != c.Mask.Area() {
			t.Errorf("candidate %d: token %d, %dx%d mask, area %d (RLE %d)", i, c.Token, c.Mask.Width, c.Mask.Height, c.Area, c.Mask.Area())
		}
		if c.Chosen {
			if chosen >= 0 {
				t.Errorf("candidates %d and %d both marked chosen", chosen, i)
			}
			chosen = i
		}
	}
	if chosen < 0 || len(pr.Objects) != 1 || pr.Objects[0].RLE == nil {
		t.Fatalf("no chosen candidate or no object mask: %s", r.body)
	}
	// The chosen candidate is the object's mask (up to hole filling,
	// which has much to fill in the random fixture's masks).
	if v := rleIoU(t, pr.Candidates[chosen].Mask, *pr.Objects[0].RLE); v < 0.85 {
		t.Errorf("the chosen candidate %d has IoU %.3f with the object's mask, want it to be that mask", chosen, v)
	}
	// Pick the candidate least like the chosen one that has pixels.
	worst := 2.0
	for i, c := range pr.Candidates {
		if i == chosen || c.Area == 0 {
			continue
		}
		if v := rleIoU(t, c.Mask, pr.Candidates[chosen].Mask); v < worst {
			worst, pick = v, i
		}
	}
	if pick < 0 {
		t.Fatalf("every other candidate is empty: %s", r.body)
	}
	r = post(fmt.Sprintf(`{"object":%d,"frame":3,"candidate":%d}`, pr.Object, pick))
	if r.status != 200 {
		t.Fatalf("pick candidate %d: %d %s", pick, r.status, r.body)
	}
	var picked PromptResponse
	if err := json.Unmarshal(r.body, &picked); err != nil {
		t.Fatal(err)
	}
	if len(picked.Objects) != 1 || picked.Objects[0].RLE == nil || len(picked.Candidates) != 4 || !picked.Candidates[pick].Chosen || picked.Candidates[chosen].Chosen {
		t.Fatalf("pick answer: %s", r.body)
	}
	got := *picked.Objects[0].RLE
	if v, old := rleIoU(t, got, pr.Candidates[pick].Mask), rleIoU(t, got, *pr.Objects[0].RLE); v < 0.85 || v <= old {
		t.Errorf("after picking candidate %d the object's mask has IoU %.3f with it and %.3f with the old mask, want it to be the pick's", pick, v, old)
	}
	t.Logf("chosen %d, picked %d (IoU %.3f with the chosen); object mask IoU with the pick %.3f", chosen, pick, worst, rleIoU(t, got, pr.Candidates[pick].Mask))
	// The pick is a prompt of that frame: tracking conditions on it, and
	// undo takes it back.
	if info := sessionInfo(t, hs.URL, s.ID); len(info.Edit.Prompts) != 1 || info.Edit.Prompts[0].Frame != 3 {
		t.Errorf("prompted frames after the pick: %+v, want object %d on frame 3", info.Edit.Prompts, pr.Object)
	}

	for _, c := range []struct{ body, want string }{
		{`{"object":1,"frame":3,"candidate":9}`, "token 0..3"},
		{`{"object":1,"frame":4,"candidate":1}`, "no point or box prompt there"},
		{`{"object":7,"frame":3,"candidate":1}`, "object 7"},
		{`{"object":0,"frame":3,"candidate":1}`, "name the object"},
		{`{"object":1,"frame":3,"candidate":1,"points":[{"x":1,"y":1,"positive":true}]}`, "stands alone"},
	} {
		r := post(c.body)
		if r.status/100 != 4 || !strings.Contains(r.errorText(t), c.want) {
			t.Errorf("%s: %d %s, want a 4xx naming %q", c.body, r.status, r.body, c.want)
		}
	}
}

// lenientEverything makes the random-weight fixture's masks pass the
// generator's filters (as the parity references do).
const lenientEverything = `"pointsPerSide":6,"boxNmsThresh":1,"predIouThresh":0.5,"stabilityScoreThresh":0.7,"stabilityScoreOffset":0.02`

// Issue 27: segment everything on the frame shown makes each mask found
// an object (a mask prompt there), and a second run on the same frame
// adds none of the same masks again.
func TestEverythingAPI(t *testing.T) {
	hs, s, base := editAPI(t)
	run := func(body string) (EverythingResponse, apiResult) {
		t.Helper()
		r := call(t, "POST", base+"/everything", "application/json", strings.NewReader(body))
		var out EverythingResponse
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return out, r
	}
	// overlap 1: nested masks count as new, so the cap is what stops.
	first, r := run(`{"frame":5,"maxObjects":3,"overlap":1,` + lenientEverything + `}`)
	if r.status != 200 {
		t.Fatalf("everything: %d %s", r.status, r.body)
	}
	t.Logf("found %d, added %d, overlapping %d, capped %d in %.2f s", first.Found, len(first.Added), first.Overlapping, first.Capped, first.Seconds)
	if first.Frame != 5 || len(first.Added) != 3 || first.Capped == 0 || first.Found != len(first.Added)+first.Overlapping+first.Capped {
		t.Fatalf("first run: %s", r.body)
	}
	for i, f := range first.Added {
		if f.Object != i+1 || f.Area <= 0 || f.Box.X1 <= f.Box.X0 || f.Box.Y1 <= f.Box.Y0 {
			t.Errorf("added %d: %+v, want object %d with its mask's area and box", i, f, i+1)
		}
	}
	if len(first.Objects) != len(first.Added) {
		t.Errorf("%d objects on the frame after adding %d", len(first.Objects), len(first.Added))
	}
	info := sessionInfo(t, hs.URL, s.ID)
	if len(info.Edit.Prompts) != len(first.Added) {
		t.Errorf("prompted frames %+v, want one per object added", info.Edit.Prompts)
	}
	// The same frame again: its masks are the objects' now.
	again, r := run(`{"frame":5,"maxObjects":3,` + lenientEverything + `}`)
	if r.status != 200 || len(again.Added) != 0 || again.Found != first.Found {
		t.Errorf("second run on the same frame: %d %s, want the same masks found and none added", r.status, r.body)
	}
	// Each added object is a prompt: undo takes the last one back.
	if r := call(t, "POST", base+"/undo", "application/json", nil); r.status != 200 {
		t.Fatalf("undo: %d %s", r.status, r.body)
	}
	if info := sessionInfo(t, hs.URL, s.ID); len(info.Edit.Prompts) != len(first.Added)-1 {
		t.Errorf("after undo: prompted %+v, want %d", info.Edit.Prompts, len(first.Added)-1)
	}
	for _, c := range []struct{ body, want string }{
		{`{"pointsPerSide":10}`, "needs \"frame\""},
		{`{"frame":5,"pointsPerSide":1000}`, "pointsPerSide 1000"},
		{`{"frame":5,"predIouThresh":2}`, "predicted IoU threshold"},
		{`{"frame":5,"maxObjects":500}`, "maxObjects 500"},
		{`{"frame":999}`, "frame 999"},
		{`{"frame":5,"nonsense":1}`, "nonsense"},
	} {
		if _, r := run(c.body); r.status != 400 || !strings.Contains(r.errorText(t), c.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.body, r.status, r.body, c.want)
		}
	}
}

// Segment everything on a live session: the model's latest frame, and
// a click's candidates picked there become a mask prompt on the latest
// frame.
func TestEverythingLive(t *testing.T) {
	clip := testutil.Clip(t, "moving_shape")
	cfg, ok := fixtureConfig(t, Config{})
	if !ok {
		t.Skip("needs the model fixture and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	s := watchCamera(t, hs.URL, clip, "yard")
	base := hs.URL + "/api/sessions/" + s.ID
	var r apiResult
	for deadline := time.Now().Add(testutil.Patience(60 * time.Second)); ; {
		r = call(t, "POST", base+"/everything", "application/json", strings.NewReader(`{"maxObjects":2,"overlap":1,`+lenientEverything+`}`))
		if r.status != 409 || time.Now().After(deadline) {
			break // 409: the model has not finished its first frame yet
		}
		time.Sleep(200 * time.Millisecond)
	}
	var out EverythingResponse
	if r.status != 200 {
		t.Fatalf("everything: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Frame < 0 || len(out.Added) != 2 || out.Added[0].Object != 1 || out.Added[1].Object != 2 {
		t.Fatalf("live everything: %s", r.body)
	}
	// A click, then a pick among its candidates.
	r = call(t, "POST", base+"/prompts", "application/json", strings.NewReader(`{"object":0,"points":[{"x":100,"y":100,"positive":true}]}`))
	var pr PromptResponse
	if r.status != 200 || json.Unmarshal(r.body, &pr) != nil || len(pr.Candidates) != 4 || pr.Object != 3 {
		t.Fatalf("click: %d %s", r.status, r.body)
	}
	pick := 1
	if pr.Candidates[1].Chosen || pr.Candidates[1].Area == 0 {
		pick = 2
	}
	r = call(t, "POST", base+"/prompts", "application/json", strings.NewReader(fmt.Sprintf(`{"object":3,"candidate":%d}`, pick)))
	var picked PromptResponse
	if r.status != 200 || json.Unmarshal(r.body, &picked) != nil || !picked.Candidates[pick].Chosen {
		t.Fatalf("live pick: %d %s", r.status, r.body)
	}
}
