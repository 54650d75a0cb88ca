package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"

	"github.com/chromedp/chromedp"

	"github.com/vidseg/vidseg/mask"
)

// One Chromium tab clicks "Use my camera" (a fake capture device) and
// publishes over WHIP; a second tab opens the session, prompts an object
// and sees its mask on the camera's video.
func TestBrowserCameraWHIP(t *testing.T) {
	pub := browser(t, chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true))
	cfg, withModel := fixtureConfig(t, Config{})
	if !withModel {
		t.Skip("needs the model fixture and ONNX Runtime to show a mask")
	}
	_, hs := newServer(t, cfg)
	if err := chromedp.Do(pub, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	click(t, pub, "#use-camera")
	poll(t, pub, "the camera's session to play in the publishing tab",
		`vidseg.camera.session && vidseg.sessionId === vidseg.camera.session && vidseg.connected && vidseg.messages > 3`, 60*time.Second)
	id := eval[string](t, pub, `vidseg.camera.session`)
	t.Logf("camera published and playing back through the server %v after the click", time.Since(start).Round(time.Millisecond))
	var info SessionInfo
	r := call(t, "GET", hs.URL+"/api/sessions/"+id, "", nil)
	if r.status != 200 {
		t.Fatalf("session %s: %d %s", id, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &info); err != nil || !info.Live || info.Width != 640 || info.Height != 480 || info.Source != "whip" {
		t.Fatalf("camera session %+v (%v)", info, err)
	}

	// The second tab watches and prompts with a mask (the random-weight
	// model returns a mask prompt as the mask of its frame).
	watcher, cancel := chromedp.NewContext(pub)
	defer cancel()
	if err := chromedp.Do(watcher, chromedp.Navigate(hs.URL+"/?session="+id)); err != nil {
		t.Fatal(err)
	}
	poll(t, watcher, "the camera video in the second tab",
		`vidseg.connected && vidseg.messages > 3 && document.getElementById("video").videoWidth === 640`, 60*time.Second)
	pm := make([]byte, 640*480)
	for y := 120; y < 360; y++ {
		for x := 200; x < 440; x++ {
			pm[y*640+x] = 1
		}
	}
	prle, err := mask.EncodeRLE(pm, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	eval[bool](t, watcher, fmt.Sprintf(`(vidseg.prompt({object: 0, points: [], mask: {size: [480, 640], counts: %q}}), true)`, prle.String()))
	poll(t, watcher, "object 1's mask over the camera video",
		`vidseg.prompts >= 1 && vidseg.last.objects.some(o => o.id === 1 && o.present && o.rle)`, 90*time.Second)
	t.Logf("mask shown %v after the prompt", time.Since(clicked).Round(time.Millisecond))
	// The publishing tab sees the same object.
	poll(t, pub, "object 1 in the publishing tab", `vidseg.last.objects.some(o => o.id === 1)`, 30*time.Second)
	screenshot(t, watcher, "browser-camera-whip.png")

	// Stopping the camera ends the session.
	click(t, pub, "#use-camera")
	deadline := time.Now().Add(testutil.Patience(30 * time.Second))
	for call(t, "GET", hs.URL+"/api/sessions/"+id, "", nil).status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("camera session still there after Stop")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
