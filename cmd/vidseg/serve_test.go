package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/store"
)

// serveProc is a running `vidseg serve`.
type serveProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer // complete once done is closed
	done   chan struct{}
}

func startServe(t *testing.T, extra []string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"serve", "--addr", "127.0.0.1:0", "-v"}, args...)...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "VIDSEG_ORT_LIB=" + ortLib(t)}, extra...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil { // a failed test left it running
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if a, ok := strings.CutPrefix(line, "vidseg: serving on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			cmd.Wait()
			<-p.done
			t.Fatalf("serve exited before listening:\n%s", p.stderr)
		}
		p.base = a
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("serve did not start listening within 2 minutes")
	}
	return p
}

func (p *serveProc) kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	p.cmd.Wait()
	<-p.done
}

func (p *serveProc) do(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, p.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

type sessionView struct {
	ID      string `json:"id"`
	Tracked int    `json:"trackedFrame"`
	Objects []int  `json:"objects"`
	State   string `json:"state"`
}

// waitTracked polls the session until the model finished a frame past after.
func (p *serveProc) waitTracked(t *testing.T, id string, after int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var v sessionView
		if p.do(t, "GET", "/api/sessions/"+id, nil, &v) == http.StatusOK && v.Tracked > after {
			return v.Tracked
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("session %s: no frame tracked past %d within %s", id, after, within)
	return 0
}

// needModelServe skips unless a server with the fixture model can run
// here, and returns the model directory and the named bundled clip.
func needModelServe(t *testing.T, clip string) (model, path string) {
	t.Helper()
	model, path = testutil.SmallModel(t), testutil.Clip(t, clip)
	if testing.Short() {
		t.Skip("runs the model in a server")
	}
	if ortLib(t) == "" {
		t.Skip("ONNX Runtime library absent: run make setup")
	}
	return model, path
}

// TestServeJournalSurvivesKill runs the real server with the fixture
// model, prompts an object, SIGKILLs the server, and checks the store: the
// acknowledged prompt and every frame the server reported finished are
// there. Then it resumes the session in a new server.
func TestServeJournalSurvivesKill(t *testing.T) {
	model, clip := needModelServe(t, "crossing")
	clip, _ = filepath.Abs(clip)
	db := filepath.Join(t.TempDir(), "sessions.db")
	env := []string{"VIDSEG_MODEL=" + model, "VIDSEG_STORE=" + db,
		"VIDSEG_MEDIA_ROOT=" + filepath.Join(testutil.RepoRoot(t), "testdata", "videos"), "VIDSEG_PAUSE_AFTER=1h"}

	srv := startServe(t, env)
	var created sessionView
	if code := srv.do(t, "POST", "/api/sessions", map[string]any{"source": clip}, &created); code != http.StatusCreated {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("create session: %d\n%s", code, srv.stderr)
	}
	// A file session holds its first frame until someone watches.
	viewer := testutil.DialWHEP(t, srv.base+"/api/sessions/"+created.ID+"/whep")
	defer viewer.Close()
	srv.waitTracked(t, created.ID, -1, 3*time.Minute)
	var pr struct {
		Object int `json:"object"`
		Frame  int `json:"frame"`
	}
	body := map[string]any{"object": 0, "points": []map[string]any{{"x": 40, "y": 110, "positive": true}}}
	if code := srv.do(t, "POST", "/api/sessions/"+created.ID+"/prompts", body, &pr); code != http.StatusOK {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("prompt: %d\n%s", code, srv.stderr)
	}
	last := srv.waitTracked(t, created.ID, pr.Frame, 3*time.Minute)
	srv.kill(t, syscall.SIGKILL)
	if !srv.cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("serve was not killed: %v", srv.cmd.ProcessState)
	}

	st, err := store.Open(db)
	if err != nil {
		t.Fatalf("reopen the store after kill -9: %v", err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	list, _ := st.List()
	if len(list) != 1 || list[0].Source != clip || list[0].Width != 320 {
		st.Close()
		t.Fatalf("stored sessions %+v", list)
	}
	id := list[0].ID
	if id != created.ID {
		t.Errorf("stored as session %s, the web session is %s: want one id", id, created.ID)
	}
	if list[0].Mode != "samurai" || !strings.Contains(list[0].Model, "sam2.1_hiera_t_random") {
		t.Errorf("stored mode %q model %q, want samurai and the fixture", list[0].Mode, list[0].Model)
	}
	sess, _ := st.Session(id)
	if f, err := st.Frame(id, pr.Frame); err != nil || len(f.Objects) != 1 || f.Objects[0].Object != pr.Object {
		t.Errorf("prompt frame %d stored as %+v (%v), want the mask the API returned", pr.Frame, f, err)
	}
	if len(sess.Prompts) != 1 || sess.Prompts[0].Object != pr.Object || sess.Prompts[0].Frame != pr.Frame ||
		len(sess.Prompts[0].Points) != 1 || sess.Prompts[0].Points[0] != (prompt.Point{X: 40, Y: 110, Positive: true}) {
		t.Errorf("stored prompts %+v, want the one acknowledged (object %d frame %d)", sess.Prompts, pr.Object, pr.Frame)
	}
	f, err := st.Frame(id, last)
	if err != nil {
		t.Errorf("frame %d reported finished before the kill is not stored: %v", last, err)
	} else if len(f.Objects) != 1 || f.Objects[0].Object != pr.Object || f.Objects[0].Mask.Height != 240 || f.Objects[0].Mask.Width != 320 {
		t.Errorf("stored frame %d: %+v", last, f)
	}
	before := sess.Info.Updated
	st.Close()
	if r := vidseg(t, t.TempDir(), nil, "sessions", "show", created.ID, "--store", db); r.code != 0 || !strings.Contains(r.stdout, created.ID) {
		t.Errorf("sessions show %s (the web id): exit %d\n%s%s", created.ID, r.code, r.stdout, r.stderr)
	}
	// Another mode would replay the prompts into masks that do not belong
	// with the stored ones: refused.
	r := vidseg(t, t.TempDir(), env, "serve", "--addr", "127.0.0.1:0", "--resume", id, "--mode", "sam2")
	if r.code == 0 || !strings.Contains(r.stderr, "mode samurai") {
		t.Errorf("--resume under another mode: exit %d\n%s", r.code, r.stderr)
	}

	// Resume: the stored session is reopened and tracked again.
	srv = startServe(t, env, "--resume", "all")
	var views []sessionView
	srv.do(t, "GET", "/api/sessions", nil, &views)
	if len(views) != 1 {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("after --resume all: sessions %+v\n%s", views, srv.stderr)
	}
	if views[0].ID != id {
		t.Errorf("resumed as web session %s, stored as %s: want one id", views[0].ID, id)
	}
	resumed := testutil.DialWHEP(t, srv.base+"/api/sessions/"+views[0].ID+"/whep")
	defer resumed.Close()
	srv.waitTracked(t, views[0].ID, pr.Frame, 3*time.Minute)
	srv.kill(t, syscall.SIGTERM)
	if !strings.Contains(srv.stderr.String(), fmt.Sprintf("resumed stored session %s", id)) {
		t.Errorf("no resume message:\n%s", srv.stderr)
	}
	st, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sess, _ = st.Session(id)
	if !sess.Info.Updated.After(before) {
		t.Errorf("resumed session wrote nothing (updated %v, before %v)", sess.Info.Updated, before)
	}
	if list, _ := st.List(); len(list) != 1 {
		t.Errorf("resume created new store sessions: %+v", list)
	}
}

// editView is the part of a session's status an edit session adds.
type editView struct {
	ID      string `json:"id"`
	Objects []int  `json:"objects"`
	Edit    *struct {
		Done      [][2]int `json:"done"`
		Stale     [][2]int `json:"stale"`
		DoneCount int      `json:"doneCount"`
		Undo      string   `json:"undo"`
		Redo      string   `json:"redo"`
		Prompts   []struct {
			Object, Frame int
		} `json:"prompts"`
		Tracking string `json:"tracking"`
		Error    string `json:"error"`
	} `json:"edit"`
}

// Issue 25: an edit session (a file to scrub and track, the page's main
// workflow) is journaled like a live one: its prompts, the frames a pass
// tracked (those a correction made stale still stale), its zones and its
// undo and redo survive kill -9, `vidseg sessions list` shows it, and
// `serve --resume all` brings it back as an edit session as it was.
// (Before: edit sessions were never stored; then their stale frames,
// zones and redo were lost at a restart.)
func TestServeEditJournalSurvivesKill(t *testing.T) {
	model, clip := needModelServe(t, "moving_shape")
	clip, _ = filepath.Abs(clip)
	db := filepath.Join(t.TempDir(), "sessions.db")
	env := []string{"VIDSEG_MODEL=" + model, "VIDSEG_STORE=" + db,
		"VIDSEG_MEDIA_ROOT=" + filepath.Join(testutil.RepoRoot(t), "testdata", "videos")}

	srv := startServe(t, env)
	var created editView
	if code := srv.do(t, "POST", "/api/sessions", map[string]any{"source": clip, "mode": "edit"}, &created); code != http.StatusCreated {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("create edit session: %d\n%s", code, srv.stderr)
	}
	base := "/api/sessions/" + created.ID
	body := map[string]any{"object": 0, "frame": 60, "points": []map[string]any{{"x": 160, "y": 120, "positive": true}}}
	if code := srv.do(t, "POST", base+"/prompts", body, nil); code != http.StatusOK {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("prompt: %d\n%s", code, srv.stderr)
	}
	if code := srv.do(t, "POST", base+"/track", map[string]any{"direction": "forward"}, nil); code != http.StatusAccepted {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("track: %d\n%s", code, srv.stderr)
	}
	waitEdit := func(p *serveProc, id, what string, ok func(editView) bool) editView {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var v editView
			if p.do(t, "GET", "/api/sessions/"+id, nil, &v) == http.StatusOK && v.Edit != nil && ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				p.kill(t, syscall.SIGKILL)
				t.Fatalf("waiting for %s: %+v\n%s", what, v.Edit, p.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitEdit(srv, created.ID, "the forward pass", func(v editView) bool { return v.Edit.Tracking == "" && v.Edit.DoneCount == 4 })
	// A correction on frame 62 (the others stale), a second object on 61
	// taken back (redo can return it), a zone.
	for _, p := range []struct {
		path string
		body any
	}{
		{base + "/prompts", map[string]any{"object": 1, "frame": 62, "points": []map[string]any{{"x": 150, "y": 120, "positive": true}}}},
		{base + "/prompts", map[string]any{"object": 0, "frame": 61, "points": []map[string]any{{"x": 60, "y": 60, "positive": true}}}},
		{base + "/undo", map[string]any{}},
	} {
		if code := srv.do(t, "POST", p.path, p.body, nil); code != http.StatusOK {
			srv.kill(t, syscall.SIGKILL)
			t.Fatalf("POST %s: %d\n%s", p.path, code, srv.stderr)
		}
	}
	zones := map[string]any{"zones": []map[string]any{{"name": "door", "polygon": []map[string]any{{"x": 10, "y": 10}, {"x": 100, "y": 10}, {"x": 100, "y": 100}}}}, "lines": []any{}}
	if code := srv.do(t, "PUT", base+"/zones", zones, nil); code != http.StatusOK {
		srv.kill(t, syscall.SIGKILL)
		t.Fatalf("PUT zones: %d\n%s", code, srv.stderr)
	}
	before := waitEdit(srv, created.ID, "the corrected session", func(v editView) bool { return v.Edit.Redo != "" && len(v.Edit.Stale) > 0 })
	srv.kill(t, syscall.SIGKILL)

	st, err := store.Open(db)
	if err != nil {
		t.Fatalf("reopen the store after kill -9: %v", err)
	}
	sess, err := st.Session(created.ID)
	if err != nil {
		st.Close()
		t.Fatalf("the edit session is not stored: %v", err)
	}
	if sess.Info.Source != clip || sess.Info.Meta["edit"] == "" || len(sess.Prompts) != 2 || sess.Prompts[0].Frame != 60 || sess.FrameCount != 4 || sess.LastFrame != 63 {
		t.Errorf("stored edit session: info %+v, %d prompts, %d frames (last %d); want the clip, 2 prompts (frames 60 and 62), frames 60..63", sess.Info, len(sess.Prompts), sess.FrameCount, sess.LastFrame)
	}
	st.Close()
	if r := vidseg(t, t.TempDir(), nil, "sessions", "list", "--store", db); r.code != 0 || !strings.Contains(r.stdout, created.ID) {
		t.Errorf("sessions list does not show the edit session %s: exit %d\n%s%s", created.ID, r.code, r.stdout, r.stderr)
	}

	srv = startServe(t, env, "--resume", "all")
	after := waitEdit(srv, created.ID, "the resumed edit session", func(editView) bool { return true })
	var geo struct{ Zones []struct{ Name string } }
	srv.do(t, "GET", base+"/zones", nil, &geo)
	srv.kill(t, syscall.SIGTERM)
	if fmt.Sprint(after.Edit.Done) != fmt.Sprint(before.Edit.Done) || fmt.Sprint(after.Edit.Stale) != fmt.Sprint(before.Edit.Stale) ||
		fmt.Sprint(after.Edit.Prompts) != fmt.Sprint(before.Edit.Prompts) || fmt.Sprint(after.Objects) != fmt.Sprint(before.Objects) ||
		after.Edit.Undo != before.Edit.Undo || after.Edit.Redo != before.Edit.Redo {
		t.Errorf("resumed edit session: objects %v, prompts %v, done %v, stale %v, undo %q, redo %q; before the kill: %v, %v, %v, %v, %q, %q",
			after.Objects, after.Edit.Prompts, after.Edit.Done, after.Edit.Stale, after.Edit.Undo, after.Edit.Redo,
			before.Objects, before.Edit.Prompts, before.Edit.Done, before.Edit.Stale, before.Edit.Undo, before.Edit.Redo)
	}
	if len(geo.Zones) != 1 || geo.Zones[0].Name != "door" {
		t.Errorf("resumed edit session's zones %+v, want the door", geo)
	}
}
