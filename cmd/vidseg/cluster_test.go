package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/cluster"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
)

// workerProc is a running `vidseg worker`.
type workerProc struct {
	id   string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

func (w *workerProc) stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

func startWorker(t *testing.T, env []string, id string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"worker", "--id", id, "-v"}, args...)...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "VIDSEG_ORT_LIB=" + ortLib(t)}, env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{id: id, cmd: cmd, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			w.mu.Lock()
			w.log.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "vidseg: worker "+id+" ready") {
				ready <- true
			}
		}
		ready <- false
	}()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("worker %s exited before it was ready:\n%s", id, w.stderr())
		}
	case <-time.After(testutil.Patience(time.Minute)):
		t.Fatalf("worker %s not ready:\n%s", id, w.stderr())
	}
	return w
}

// sse reads a Server-Sent Events stream and sends each "data:" line with
// the time it arrived.
type sseMsg struct {
	data []byte
	at   time.Time
}

// result decodes a message of the results stream; ok false (the stream
// ended) fails the test.
func (m sseMsg) result(t *testing.T, ok bool) cluster.Result {
	t.Helper()
	if !ok {
		t.Fatal("result stream ended")
	}
	var r cluster.Result
	if err := json.Unmarshal(m.data, &r); err != nil {
		t.Fatalf("result %s: %v", m.data, err)
	}
	return r
}

func readSSE(t *testing.T, ctx context.Context, url string) <-chan sseMsg {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Last-Event-ID", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := make(chan sseMsg, 4096)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				select {
				case out <- sseMsg{[]byte(d), time.Now()}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// TestClusterFailover is issue 17 on one machine: NATS JetStream in the
// test process, a front end (`serve --workers`) and three worker
// processes of the real binary with the fixture model, six looping file
// cameras that each show a frame every 30 s (so the model runs little).
// Once the workers share the cameras (two each: the first ready give some
// back to the last) and every camera has a result, the worker of cam1 is
// prompted through the front end (a second object) and killed with SIGKILL. Its cameras must be taken by the other workers
// within 10 s of the kill (their leases expire after --lease-ttl) and
// tracked again, their prompts replayed; the front end's viewer (one
// result stream, never reconnected) keeps receiving results, and every
// camera's events in the stream and on the front end's /api/events are
// numbered 1..n without a gap or a duplicate.
//
// The time from the kill to a camera's first result from its new worker
// is logged; it includes a model frame, which takes seconds on a shared
// CPU, so it is asserted only against VIDSEG_FAILOVER_BUDGET when set
// (for a measuring run on a quiet machine).
func TestClusterFailover(t *testing.T) {
	model, clip := needModelServe(t, "moving_shape")
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(filepath.Join(dir, "fe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	// Two frames 30 s apart, looped.
	slow := filepath.Join(media, "slow.mp4")
	testutil.FFmpeg(t, "-i", clip, "-vf", "select='lt(n,2)',setpts=N*30/TB", "-fps_mode", "vfr", "-frames:v", "2",
		"-c:v", "libx264", "-g", "1", "-pix_fmt", "yuv420p", slow)

	// NATS with a user per worker, as `vidseg serve` makes them (the
	// credentials files beside the store).
	auth, err := cluster.LoadOrCreateAuth(filepath.Join(dir, "nats", "users.json"), []string{"w1", "w2", "w3"})
	if err != nil {
		t.Fatal(err)
	}
	nsrv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Dir: filepath.Join(dir, "nats"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer nsrv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus, err := cluster.Connect(ctx, nsrv.URL(), nsrv.Admin(cluster.Options{Name: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	// The front end below is given the admin's URL, as with an external
	// cluster, so it runs no lease coordinator: the test does, as serve
	// does with its embedded server (workers write no lease themselves).
	coord := &cluster.Coordinator{Bus: bus, Grant: nsrv.SetGrants, Log: slog.New(slog.DiscardHandler)}
	coordDone, err := coord.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-coordDone }()

	const nCams = 6
	var yaml strings.Builder
	yaml.WriteString("cameras:\n")
	var names []string
	for i := range nCams {
		name := fmt.Sprintf("cam%d", i+1)
		names = append(names, name)
		fmt.Fprintf(&yaml, "  - name: %s\n    source: %s\n    prompts:\n      - points: [[60, 70]]\n    zones:\n      - name: all\n        polygon: [[0, 0], [320, 0], [320, 240], [0, 240]]\n", name, slow)
	}
	cams := filepath.Join(dir, "cameras.yaml")
	if err := os.WriteFile(cams, []byte(yaml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The front end is given the admin's credentials in the URL (it
	// writes the cameras), the workers theirs in a file (w1, w2) or the
	// URL (w3): no log shows them.
	admin := strings.Replace(nsrv.URL(), "nats://", "nats://"+auth.Admin.User+":"+auth.Admin.Password+"@", 1)
	fe := startServe(t, []string{"VIDSEG_STORE=" + filepath.Join(dir, "fe", "sessions.db")},
		"--nats", admin, "--cameras", cams, "--workers", "--frontend-name", "fe1")
	defer fe.kill(t, syscall.SIGTERM)

	// The front end's viewers: every result, every event.
	results := readSSE(t, ctx, fe.base+"/api/cluster/results")
	evStream := readSSE(t, ctx, fe.base+"/api/events")

	// Scores of the random-weight model hover near 0: threshold -5 and one
	// frame make every (re)started camera report appeared and zone_enter.
	wargs := []string{"--capacity", "3", "--media-root", media, "--threads", "1",
		"--event-threshold", "-5", "--event-frames", "1"}
	env := []string{"VIDSEG_MODEL=" + model}
	workers := map[string]*workerProc{}
	for _, id := range []string{"w1", "w2"} {
		workers[id] = startWorker(t, env, id, append(wargs, "--nats", nsrv.URL(), "--nats-auth", cluster.WorkerAuthFile(filepath.Join(dir, "nats"), id))...)
	}
	w3 := auth.Worker("w3")
	workers["w3"] = startWorker(t, env, "w3", append(wargs, "--nats", strings.Replace(nsrv.URL(), "nats://", "nats://w3:"+w3.Password+"@", 1))...)

	// Workers share the cameras (the first ones ready give some back to
	// the last), two each, and every camera has a result from its worker.
	patience := testutil.Patience(5 * time.Minute)
	lastWorker := map[string]string{}
	owner := map[string]string{}
	owners := map[string][]string{}
	settled := func() bool {
		var status []cluster.CameraStatus
		fe.do(t, "GET", "/api/cluster/cameras", nil, &status)
		clear(owner)
		clear(owners)
		for _, s := range status {
			owner[s.Camera] = s.Worker
			owners[s.Worker] = append(owners[s.Worker], s.Camera)
		}
		for _, id := range []string{"w1", "w2", "w3"} {
			if len(owners[id]) != 2 {
				return false
			}
		}
		for _, cam := range names {
			if lastWorker[cam] != owner[cam] {
				return false
			}
		}
		return true
	}
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	waitSettled := func() {
		t.Helper()
		deadline := time.After(patience)
		for !settled() {
			select {
			case m, ok := <-results:
				r := m.result(t, ok)
				if len(r.Objects) == 0 || r.Objects[0].Object != 1 {
					t.Fatalf("camera %s: want its configured object 1 tracked: %s\n%s", r.Camera, m.data, workerLogs(workers))
				}
				lastWorker[r.Camera] = r.Worker
			case <-poll.C:
			case <-deadline:
				t.Fatalf("cameras not shared two per worker and tracked within %v: owners %v, results from %v\n%s", patience, owners, lastWorker, workerLogs(workers))
			}
		}
	}

	// A prompt through the front end reaches the camera's worker, which
	// journals it: the camera's next worker replays it too. (On a loaded
	// machine a camera may move meanwhile: then settle and try again.)
	const prompted = "cam1"
	var victim string
	click := map[string]any{"points": []map[string]any{{"x": 250, "y": 180, "positive": true}}}
	for attempt := 1; ; attempt++ {
		waitSettled()
		victim = owner[prompted]
		var rep cluster.PromptReply
		code := fe.do(t, "POST", "/api/cluster/cameras/"+prompted+"/prompts", click, &rep)
		if code == http.StatusOK && rep.Object == 2 && rep.Worker == victim {
			break
		}
		if attempt == 3 || (code != http.StatusConflict && code != http.StatusServiceUnavailable) {
			t.Fatalf("prompt on %s through the front end: %d %+v\n%s", prompted, code, rep, workerLogs(workers))
		}
	}
	if code := fe.do(t, "POST", "/api/cluster/cameras/nocamera/prompts", click, nil); code != http.StatusServiceUnavailable {
		t.Errorf("prompt on a camera nobody tracks: %d, want 503", code)
	}
	settled() // owners now
	if owner[prompted] != victim {
		t.Fatalf("camera %s moved from %s to %s after its prompt", prompted, victim, owner[prompted])
	}
	moved := owners[victim]
	t.Logf("owners before the kill: %v; killing %s", owners, victim)

	killed := time.Now()
	workers[victim].cmd.Process.Signal(syscall.SIGKILL)
	workers[victim].cmd.Wait()

	// Each of its cameras is taken by another worker (the lease) and
	// tracked there (a result on the front end's stream).
	taken := map[string]time.Duration{}
	firstResult := map[string]time.Duration{}
	resumedOthers := map[string]bool{} // cameras of the other workers seen after the kill
	deadline := time.After(patience)
	for len(taken) < len(moved) || len(firstResult) < len(moved) || len(resumedOthers) == 0 {
		select {
		case m, ok := <-results:
			r := m.result(t, ok)
			if r.Worker == victim {
				continue // published before the kill
			}
			if slices.Contains(moved, r.Camera) {
				if _, ok := firstResult[r.Camera]; !ok {
					firstResult[r.Camera] = m.at.Sub(killed)
					want := []int{1}
					if r.Camera == prompted {
						want = []int{1, 2}
					}
					var got []int
					for _, o := range r.Objects {
						got = append(got, o.Object)
					}
					if !slices.Equal(got, want) {
						t.Errorf("camera %s on %s: objects %v, want %v (journaled prompts replayed)", r.Camera, r.Worker, got, want)
					}
				}
			} else if r.Wall.After(killed) {
				resumedOthers[r.Camera] = true
			}
		case <-poll.C:
			for _, cam := range moved {
				if _, ok := taken[cam]; ok {
					continue
				}
				if l, err := bus.Owner(ctx, cam); err == nil && l.Worker != "" && l.Worker != victim {
					taken[cam] = time.Since(killed)
				}
			}
		case <-deadline:
			t.Fatalf("after the kill: taken %v, first results %v, other cameras seen %v\nworkers:\n%s", taken, firstResult, resumedOthers, workerLogs(workers))
		}
	}
	budget, _ := time.ParseDuration(os.Getenv("VIDSEG_FAILOVER_BUDGET"))
	for _, cam := range moved {
		t.Logf("camera %s: taken %v after the kill, first result from its new worker %v after", cam, taken[cam].Round(time.Millisecond), firstResult[cam].Round(time.Millisecond))
		if taken[cam] > 10*time.Second {
			t.Errorf("camera %s taken %v after the kill, want within 10s", cam, taken[cam])
		}
		if budget > 0 && firstResult[cam] > budget {
			t.Errorf("camera %s tracked again %v after the kill, want within VIDSEG_FAILOVER_BUDGET %v", cam, firstResult[cam], budget)
		}
	}

	// Events: the stream holds each camera's events numbered 1..n, ids
	// camera:seq, once each; the moved cameras have events from both
	// workers. The front end's /api/events delivers the same.
	stored := map[string][]uint64{}
	cons, err := bus.Events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := func(cam string) int {
		if slices.Contains(moved, cam) {
			return 4 // appeared and zone_enter on each worker
		}
		return 2
	}
	complete := func() bool {
		for _, cam := range names {
			if len(stored[cam]) < wantEvents(cam) {
				return false
			}
		}
		return true
	}
	read := 0
	next := func(wait time.Duration) bool {
		m, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			return false
		}
		read++
		var e events.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			t.Fatal(err)
		}
		if e.ID != fmt.Sprintf("%s:%d", e.Camera, e.Seq) || m.Headers().Get(jetstream.MsgIDHeader) != e.ID {
			t.Errorf("event id %q (Nats-Msg-Id %q) for camera %s seq %d", e.ID, m.Headers().Get(jetstream.MsgIDHeader), e.Camera, e.Seq)
		}
		stored[e.Camera] = append(stored[e.Camera], e.Seq)
		return true
	}
	// A new owner's first result can come before its first events (the
	// zone is entered a frame or more later): wait for the events
	// themselves, then take everything stored by then.
	for until := time.Now().Add(patience); !complete() && time.Until(until) > 0; {
		next(min(10*time.Second, time.Until(until)))
	}
	info, err := bus.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for read < int(info.State.Msgs) {
		if !next(10 * time.Second) {
			t.Fatalf("read %d of the %d stored events", read, info.State.Msgs)
		}
	}
	for _, cam := range names {
		seqs := stored[cam]
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Errorf("camera %s: stored events numbered %v, want 1..%d", cam, seqs, len(seqs))
				break
			}
		}
		if len(seqs) < wantEvents(cam) {
			t.Errorf("camera %s: %d events stored within %v, want at least %d", cam, len(seqs), patience, wantEvents(cam))
		}
	}
	seen := map[string][]uint64{}
	deadline = time.After(patience)
	for n := 0; n < int(info.State.Msgs); {
		select {
		case m, ok := <-evStream:
			if !ok {
				t.Fatal("event stream ended")
			}
			var e events.Event
			if err := json.Unmarshal(m.data, &e); err != nil {
				t.Fatalf("event %s: %v", m.data, err)
			}
			seen[e.Camera] = append(seen[e.Camera], e.Seq)
			n++
		case <-deadline:
			t.Fatalf("front end's /api/events: %v, stream: %v", seen, stored)
		}
	}
	for _, cam := range names {
		if !slices.Equal(seen[cam], stored[cam]) {
			t.Errorf("camera %s: /api/events numbered %v, the stream %v", cam, seen[cam], stored[cam])
		}
	}
	// No log of the run shows a password (the workers' ready lines, the
	// front end's NATS line, errors).
	fe.kill(t, syscall.SIGTERM)
	for _, w := range workers {
		w.cmd.Process.Signal(syscall.SIGTERM)
		<-w.done
	}
	logs := workerLogs(workers) + fe.stderr.String()
	for _, c := range append([]cluster.Cred{auth.Admin, auth.Relay}, auth.Workers...) {
		if strings.Contains(logs, c.Password) {
			t.Errorf("the password of %s is in the logs", c.User)
		}
	}
	if strings.Contains(logs, "Permissions Violation") {
		t.Errorf("a worker or the front end was refused a permission:\n%s", logs)
	}
	if !strings.Contains(logs, "vidseg: worker w3 ready") || !strings.Contains(logs, "vidseg: nats on nats://REDACTED@127.0.0.1:") {
		t.Errorf("ready and NATS lines missing")
	}
	if t.Failed() {
		t.Logf("workers:\n%s", workerLogs(workers))
	}
}

func workerLogs(ws map[string]*workerProc) string {
	var b strings.Builder
	for _, id := range []string{"w1", "w2", "w3"} {
		if w := ws[id]; w != nil {
			fmt.Fprintf(&b, "--- %s\n%s", id, w.stderr())
		}
	}
	return b.String()
}

// TestServeEmbedsNATS: a plain `vidseg serve` runs its own NATS server on
// loopback (no setup), keeping JetStream beside its store, and answers the
// cluster routes; --nats none runs without.
func TestServeEmbedsNATS(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sessions.db")
	srv := startServe(t, []string{"VIDSEG_STORE=" + db})
	var status []cluster.CameraStatus
	if code := srv.do(t, "GET", "/api/cluster/cameras", nil, &status); code != http.StatusOK || len(status) != 0 {
		t.Errorf("cluster cameras: %d %+v", code, status)
	}
	// Nobody connects without credentials, on loopback too; a worker's
	// credentials are in a file beside the store, for this user only.
	url := regexp.MustCompile(`vidseg: nats on (nats://127\.0\.0\.1:\d+)`).FindStringSubmatch(srv.stderr.String())
	if url == nil {
		t.Fatalf("no embedded NATS on loopback announced:\n%s", srv.stderr)
	}
	if nc, err := nats.Connect(url[1]); err == nil {
		nc.Close()
		t.Errorf("an outsider connected to the embedded NATS %s", url[1])
	}
	creds := cluster.WorkerAuthFile(filepath.Join(dir, "nats"), "worker1")
	if fi, err := os.Stat(creds); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("worker credentials: %v %v", fi, err)
	}
	w, err := cluster.Connect(context.Background(), url[1], cluster.Options{AuthFile: creds})
	if err != nil {
		t.Fatalf("a worker with %s: %v", creds, err)
	}
	// serve hands out the leases: a camera's source comes with its lease
	// (the record the worker can read has none).
	auth, err := cluster.LoadOrCreateAuth(filepath.Join(dir, "nats", "users.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := cluster.Connect(context.Background(), url[1], cluster.Options{User: auth.Admin.User, Password: auth.Admin.Password})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.PutCameras(context.Background(), []cluster.Camera{{Name: "door", Source: "rtsp://u:hunter2@10.0.0.9/"}}); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	if c, err := w.Camera(context.Background(), "door"); err != nil || c.Source != "" {
		t.Errorf("the worker reads door's record: %+v %v, want no source", c, err)
	}
	m, err := w.NC.Request(cluster.LeaseSubject("worker1", "take"), []byte(`{"camera":"door"}`), testutil.Patience(30*time.Second))
	var rep cluster.LeaseReply
	if err != nil || json.Unmarshal(m.Data, &rep) != nil || rep.Camera == nil || rep.Camera.Source != "rtsp://u:hunter2@10.0.0.9/" {
		t.Errorf("serve's coordinator: %v %+v", err, rep)
	}
	w.Close()
	// A wrong token is not echoed.
	out, err := exec.Command(binPath, "worker", "--nats", strings.Replace(url[1], "nats://", "nats://wrongs3cret@", 1)).CombinedOutput()
	if err == nil || strings.Contains(string(out), "wrongs3cret") || !strings.Contains(string(out), "Authorization Violation") {
		t.Errorf("worker with a wrong token: %v\n%s", err, out)
	}
	srv.kill(t, syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(dir, "nats", "jetstream")); err != nil {
		t.Errorf("JetStream store beside the store: %v", err)
	}

	srv = startServe(t, []string{"VIDSEG_STORE=" + db}, "--nats", "none")
	if code := srv.do(t, "GET", "/api/cluster/cameras", nil, nil); code != http.StatusNotFound {
		t.Errorf("cluster cameras with --nats none: %d, want 404", code)
	}
	srv.kill(t, syscall.SIGTERM)
}
