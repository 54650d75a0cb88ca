package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/livetest"
	"github.com/vidseg/vidseg/store"
)

type cameraView struct {
	sessionView
	Name string `json:"camera"`
}

// waitCamera polls until camera name has a session that satisfies ok.
func (p *serveProc) waitCamera(t *testing.T, name string, within time.Duration, ok func(cameraView) bool) cameraView {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []cameraView
	for time.Now().Before(deadline) {
		last = nil
		p.do(t, "GET", "/api/sessions", nil, &last)
		for _, v := range last {
			if v.Name == name && ok(v) {
				return v
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("camera %s: not as wanted within %v: %+v\n%s", name, within, last, p.stderr)
	return cameraView{}
}

// TestServeCamerasResumeAfterKill runs the real binary with a cameras file
// naming an RTSP camera (real server and publisher on loopback): the
// camera starts at launch with its configured prompt and zones; after kill
// -9 a new server resumes it with its object and the zones changed
// through the API; a camera lost longer than --source-lost-after is
// restarted, again with its object.
func TestServeCamerasResumeAfterKill(t *testing.T) {
	model, clip := needModelServe(t, "moving_shape")
	rtsp := livetest.StartServer(t, "127.0.0.1:0")
	pub := livetest.Publish(t, clip, rtsp.URL("door"))
	<-rtsp.Recording()

	dir := t.TempDir()
	cams := filepath.Join(dir, "cameras.yaml")
	yaml := fmt.Sprintf(`cameras:
  - name: door
    source: %s
    prompts:
      - points: [[60, 70]]
    zones:
      - name: entry
        polygon: [[150, 0], [320, 0], [320, 240], [150, 240]]
        dwell: 2s
`, rtsp.URL("door"))
	if err := os.WriteFile(cams, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "sessions.db")
	env := []string{"VIDSEG_MODEL=" + model, "VIDSEG_STORE=" + db}
	// The camera is on loopback: URL sources and private addresses allowed.
	args := []string{"--cameras", cams, "--source-lost-after", "1s", "--allow-urls", "--allow-private-urls"}

	srv := startServe(t, env, args...)
	cam := srv.waitCamera(t, "door", 3*time.Minute, func(v cameraView) bool { return slices.Equal(v.Objects, []int{1}) })
	var geo events.Geometry
	srv.do(t, "GET", "/api/sessions/"+cam.ID+"/zones", nil, &geo)
	if len(geo.Zones) != 1 || geo.Zones[0].Name != "entry" || geo.Zones[0].DwellMs != 2000 {
		t.Fatalf("configured zones: %+v", geo)
	}
	geo.Lines = []events.Line{{Name: "gate", A: events.Point{X: 160, Y: 0}, B: events.Point{X: 160, Y: 240}}}
	if code := srv.do(t, "PUT", "/api/sessions/"+cam.ID+"/zones", geo, nil); code != http.StatusOK {
		t.Fatalf("put zones: %d", code)
	}
	srv.kill(t, syscall.SIGKILL)

	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := st.List()
	if len(list) != 1 || list[0].Meta["camera"] != "door" || list[0].Source != rtsp.URL("door") {
		st.Close()
		t.Fatalf("stored sessions %+v", list)
	}
	sess, _ := st.Session(list[0].ID)
	a, ok, _ := st.Analytics(list[0].ID)
	st.Close()
	if len(sess.Prompts) != 1 || sess.Prompts[0].Object != 1 {
		t.Fatalf("stored prompts %+v", sess.Prompts)
	}
	if !ok || !strings.Contains(string(a.Geometry), `"gate"`) {
		t.Fatalf("stored analytics %+v %v", a, ok)
	}

	// kill -9, restart: the camera comes back with its object and zones.
	srv = startServe(t, env, args...)
	cam = srv.waitCamera(t, "door", 3*time.Minute, func(v cameraView) bool { return slices.Equal(v.Objects, []int{1}) && v.Tracked >= 0 })
	srv.do(t, "GET", "/api/sessions/"+cam.ID+"/zones", nil, &geo)
	if len(geo.Lines) != 1 || geo.Lines[0].Name != "gate" || len(geo.Zones) != 1 {
		t.Errorf("zones after restart: %+v", geo)
	}
	if !strings.Contains(srv.stderr.String(), "resumed=true") {
		t.Errorf("camera not resumed from the journal:\n%s", srv.stderr)
	}

	// The camera is lost for longer than --source-lost-after: its session
	// ends and the camera is restarted, resuming its object again.
	rtsp.Stop()
	pub.Kill()
	for deadline := time.Now().Add(time.Minute); ; {
		var views []cameraView
		srv.do(t, "GET", "/api/sessions", nil, &views)
		if !slices.ContainsFunc(views, func(v cameraView) bool { return v.ID == cam.ID }) {
			break // ended as lost and removed for a restart
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera session %s still there a minute after its source went: %+v", cam.ID, views)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rtsp.Start(); err != nil {
		t.Fatal(err)
	}
	livetest.Publish(t, clip, rtsp.URL("door"))
	// The restarted camera keeps its stored session id (web id = store id);
	// the loop above saw the lost session go.
	srv.waitCamera(t, "door", 3*time.Minute, func(v cameraView) bool {
		return slices.Equal(v.Objects, []int{1}) && v.Tracked >= 0
	})
	srv.kill(t, syscall.SIGTERM)
	if log := srv.stderr.String(); !strings.Contains(log, `camera stopped; restarting" camera=door state="lost: `) {
		t.Errorf("no restart after the loss logged:\n%s", log)
	}
	st, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if list, _ := st.List(); len(list) != 1 {
		t.Errorf("restarts created new store sessions: %+v", list)
	}
	sess, _ = st.Session(list[0].ID)
	if len(sess.Prompts) != 1 {
		t.Errorf("replayed prompts were stored again: %+v", sess.Prompts)
	}
}
