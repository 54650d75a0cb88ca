package web

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
)

// With a model far slower than the source (the random fixture on CPU), the
// video keeps coming at the source pace with the last known masks and the
// model only ever sees the newest frame: frames are dropped, never queued.
func TestSlowModelDropsFramesNotVideo(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err == nil {
		// The model is the slow part of these tests; one model session
		// is enough.
		t.Skip("TestBrowserPlaysAndTracks makes the same checks through Chromium")
	}
	clip := testutil.Clip(t, "moving_shape")
	cfg, ok := fixtureConfig(t, Config{})
	if !ok {
		t.Skip("needs a model fixture under testdata/model and ONNX Runtime")
	}
	_, hs := newServer(t, cfg)
	s := createSession(t, hs.URL, clip)
	v := watch(t, hs.URL, s.ID)
	v.WaitMessages(t, 5, 20*time.Second)

	// A mask prompt makes object 1 present on the model's latest frame.
	body := `{"object":0,"mask":{"size":[240,320],"counts":"` + squareRLE(t) + `"}}`
	var r apiResult
	for deadline := time.Now().Add(testutil.Patience(60 * time.Second)); ; {
		r = call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/prompts", "application/json", strings.NewReader(body))
		if r.status != 409 || time.Now().After(deadline) {
			break // 409: the model has not finished its first frame yet
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("mask prompt: %d %s", r.status, r.body)
	}
	var pr PromptResponse
	if err := json.Unmarshal(r.body, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Object != 1 || len(pr.Objects) != 1 || !pr.Objects[0].Present || pr.Objects[0].RLE == nil {
		t.Fatalf("prompt response %s", r.body)
	}
	// A bad prompt is refused with the reason and changes nothing.
	bad := call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/prompts", "application/json", strings.NewReader(`{"object":1,"points":[{"x":5000,"y":1,"positive":true}]}`))
	if bad.status != 400 || !strings.Contains(bad.errorText(t), "outside") {
		t.Errorf("point outside the frame: %d %s", bad.status, bad.body)
	}
	unknown := call(t, "POST", hs.URL+"/api/sessions/"+s.ID+"/prompts", "application/json", strings.NewReader(`{"object":9,"points":[{"x":5,"y":1,"positive":true}]}`))
	if unknown.status != 404 || !strings.Contains(unknown.errorText(t), "object 9") {
		t.Errorf("unknown object: %d %s", unknown.status, unknown.body)
	}

	time.Sleep(time.Second)
	n := len(v.WaitMessages(t, 1, time.Second))
	msgs := v.WaitMessages(t, n+1, 5*time.Second)
	var last struct {
		Frame, MaskFrame int
		Objects          []struct{ ID int }
		LatencyMs        float64
	}
	if err := json.Unmarshal(msgs[len(msgs)-1], &last); err != nil {
		t.Fatal(err)
	}
	var info SessionInfo
	json.Unmarshal(call(t, "GET", hs.URL+"/api/sessions/"+s.ID, "", nil).body, &info)
	t.Logf("after prompt: frame %d shows masks of frame %d; model finished %d frames up to frame %d; sent %d pictures (%d skipped); model %.2f fps, video %.1f fps, latency %.1f ms",
		last.Frame, last.MaskFrame, info.ModelFrames, info.Tracked, info.FramesSent, info.FramesSkipped, info.ModelFPS, info.SourceFPS, last.LatencyMs)
	if len(last.Objects) != 1 || last.Objects[0].ID != 1 {
		t.Errorf("objects in metadata: %+v", last.Objects)
	}
	checkNotQueued(t, info, last.Frame, last.MaskFrame)

	// Removing the object takes it out of the overlay metadata.
	if r := call(t, "DELETE", hs.URL+"/api/sessions/"+s.ID+"/objects/1", "", nil); r.status != 204 {
		t.Fatalf("remove object: %d %s", r.status, r.body)
	}
	n = len(v.WaitMessages(t, 1, time.Second))
	msgs = v.WaitMessages(t, n+3, 5*time.Second)
	if err := json.Unmarshal(msgs[len(msgs)-1], &last); err != nil {
		t.Fatal(err)
	}
	if len(last.Objects) != 0 {
		t.Errorf("object still sent after removal: %+v", last.Objects)
	}
}

func squareRLE(t *testing.T) string {
	t.Helper()
	m := make([]byte, 320*240)
	for y := 80; y < 160; y++ {
		for x := 120; x < 200; x++ {
			m[y*320+x] = 1
		}
	}
	r, err := encodeRLE(m, 320, 240)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func encodeRLE(m []byte, w, h int) (string, error) {
	r, err := mask.EncodeRLE(m, w, h)
	return r.String(), err
}

// checkNotQueued: newer video carries the latest masks, and either the model
// kept up (masks at most a few frames old) or it skipped frames. A queue
// would have it finish every frame while the masks trail ever further.
func checkNotQueued(t *testing.T, info SessionInfo, frame, maskFrame int) {
	t.Helper()
	if maskFrame < 0 || maskFrame > frame {
		t.Errorf("video frame %d carries masks of frame %d", frame, maskFrame)
	}
	if lag := frame - maskFrame; info.ModelFrames >= int64(info.Tracked+1) && lag > 3 {
		t.Errorf("model finished %d frames up to frame %d, all of them, yet masks trail by %d frames: frames were queued",
			info.ModelFrames, info.Tracked, lag)
	}
}
