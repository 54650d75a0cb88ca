package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/prompt"
)

// Runner runs cameras on this worker (a SessionRunner in `vidseg worker`).
type Runner interface {
	Start(ctx context.Context, c Camera) (Running, error)
}

// Running is a camera being tracked.
type Running interface {
	// Ended is closed when the camera's session ended by itself.
	Ended() <-chan struct{}
	// Prompt adds or corrects an object on the latest tracked frame and
	// returns its id.
	Prompt(ctx context.Context, p prompt.Prompt) (int, error)
	// Stop ends the camera's session and waits for it.
	Stop()
}

// PromptReply answers a prompt request on vidseg.<camera>.prompt.
type PromptReply struct {
	Object int    `json:"object,omitempty"`
	Worker string `json:"worker,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Worker takes cameras from the cameras bucket, up to its capacity, each
// under a lease in the leases bucket: created when free (the bucket
// forgets a lease LeaseTTL after its last renewal), renewed every quarter of
// the TTL with the revision it last wrote, so a worker that lost a lease
// (expired, taken) notices and stops the camera.
type Worker struct {
	ID       string
	Capacity int
	Bus      *Bus
	Run      Runner
	Events   *EventPublisher
	Log      *slog.Logger

	mu    sync.Mutex
	owned map[string]*claim
	lost  chan string

	lastGive  time.Time            // last camera given back to rebalance
	freeSince map[string]time.Time // cameras seen without a lease, while others had the turn
	// A camera that failed to start or whose source ended waits before
	// this worker tries it again (1 s doubling to 10 s, as on one machine).
	retryAt map[string]time.Time
	backoff map[string]time.Duration
}

// failed schedules the next try of a camera that failed here.
func (w *Worker) failed(name string) {
	if w.retryAt == nil {
		w.retryAt, w.backoff = map[string]time.Time{}, map[string]time.Duration{}
	}
	d := min(max(2*w.backoff[name], time.Second), 10*time.Second)
	w.backoff[name], w.retryAt[name] = d, time.Now().Add(d)
}

// Presence is a live worker in the workers bucket, renewed every round.
type Presence struct {
	Capacity int `json:"capacity"`
	Cameras  int `json:"cameras"`
}

type claim struct {
	started time.Time
	lost    bool // reported to the main loop, under Worker.mu
	rev     uint64
	renewed time.Time
	run     Running
	sub     *nats.Subscription
}

// LostCamera tells the worker that camera is no longer its own (its
// events were refused); it is stopped on the next round. Safe to call
// from any goroutine.
func (w *Worker) LostCamera(camera string) {
	select {
	case w.lostCh() <- camera:
	default:
	}
}

func (w *Worker) lostCh() chan string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost == nil {
		w.lost = make(chan string, 64)
	}
	return w.lost
}

// Owned lists the cameras this worker tracks.
func (w *Worker) Owned() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.owned))
	for n := range w.owned {
		out = append(out, n)
	}
	return out
}

// Serve takes, renews and releases leases until ctx ends; then it stops
// its cameras, stores their queued events and gives their leases back so
// that other workers need not wait for them to expire.
func (w *Worker) Serve(ctx context.Context) error {
	if w.Capacity <= 0 {
		return errors.New("worker: capacity must be at least 1")
	}
	w.mu.Lock()
	w.owned = make(map[string]*claim)
	w.mu.Unlock()
	lost := w.lostCh()
	ttl := w.Bus.LeaseTTL
	// Leases are renewed by a loop of their own, so that a camera slow to
	// start or stop (a model step in progress) never delays the others'.
	rctx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); w.renewLoop(rctx) }()
	defer func() { stopRenew(); <-renewed; w.releaseAll() }()
	// Rounds are frequent enough to take a free camera soon after its
	// lease expired.
	round := min(ttl/6, 500*time.Millisecond)
	for {
		w.reap(ctx)
		peers := w.peers(ctx)
		w.take(ctx, peers)
		w.rebalance(peers)
		t := time.NewTimer(round + rand.N(round/4+1)) // jitter: workers take turns
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case name := <-lost:
			t.Stop()
			w.drop(name, false)
		case <-t.C:
		}
	}
}

// renewLoop renews the leases and this worker's presence every TTL/4
// until ctx ends.
func (w *Worker) renewLoop(ctx context.Context) {
	t := time.NewTicker(w.Bus.LeaseTTL / 4)
	defer t.Stop()
	for {
		w.announce(ctx)
		w.renew(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leases is how this worker writes its leases: through the coordinator
// when there is one.
func (w *Worker) leases() leaser { return leaser{bus: w.Bus, worker: w.ID} }

// renew extends every lease held; one that cannot be extended (taken or
// expired) or was not extended for a whole TTL (NATS unreachable) is
// handed to the main loop to drop: another worker may track the camera
// by now.
func (w *Worker) renew(ctx context.Context) {
	ttl := w.Bus.LeaseTTL
	for _, name := range w.Owned() {
		w.mu.Lock()
		c := w.owned[name]
		var rev uint64
		var since, renewed time.Time
		if c != nil {
			rev, since, renewed = c.rev, c.started, c.renewed
		}
		w.mu.Unlock()
		if c == nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, ttl/2)
		newRev, err := w.leases().renew(rctx, name, since, rev)
		cancel()
		switch {
		case err == nil:
			w.mu.Lock()
			if w.owned[name] == c {
				c.rev, c.renewed = newRev, time.Now()
			}
			w.mu.Unlock()
		case ctx.Err() != nil:
			return
		case time.Since(renewed) >= ttl || errors.Is(err, ErrLeaseLost):
			w.mu.Lock()
			report := !c.lost
			w.mu.Unlock()
			if !report {
				continue // the main loop has it
			}
			w.Log.Warn("worker: lease lost; camera stopped", "camera", name, "err", err)
			select {
			case w.lostCh() <- name:
				w.mu.Lock()
				c.lost = true
				w.mu.Unlock()
			default: // full: the next renewal reports it again; never block renewals
			}
		default:
			w.Log.Warn("worker: lease not renewed; retrying", "camera", name, "err", err)
		}
	}
}

// reap releases cameras whose sessions ended (a source that failed) or
// that were removed from the cameras bucket, so they can start again.
func (w *Worker) reap(ctx context.Context) {
	names, err := w.Bus.CameraNames(ctx)
	if err != nil {
		return
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, name := range w.Owned() {
		w.mu.Lock()
		c := w.owned[name]
		w.mu.Unlock()
		ended := false
		select {
		case <-c.run.Ended():
			ended = true
		default:
		}
		if ended || !want[name] {
			w.Log.Info("worker: camera released", "camera", name, "ended", ended, "removed", !want[name])
			if ended {
				if time.Since(c.started) > time.Minute && w.backoff != nil {
					delete(w.backoff, name) // it ran well for a while
				}
				w.failed(name)
			}
			w.drop(name, true)
		}
	}
}

// announce renews this worker's presence and load in the workers bucket.
func (w *Worker) announce(ctx context.Context) {
	w.mu.Lock()
	me := Presence{Capacity: w.Capacity, Cameras: len(w.owned)}
	w.mu.Unlock()
	data, _ := json.Marshal(me)
	if _, err := w.Bus.Workers.Put(ctx, w.ID, data); err != nil && ctx.Err() == nil {
		w.Log.Warn("worker: presence not announced", "err", err)
	}
}

// peers returns the live workers' load, this one's as it is now.
func (w *Worker) peers(ctx context.Context) map[string]Presence {
	w.mu.Lock()
	peers := map[string]Presence{w.ID: {Capacity: w.Capacity, Cameras: len(w.owned)}}
	w.mu.Unlock()
	keys, err := w.Bus.Workers.Keys(ctx)
	if err != nil {
		return peers
	}
	for _, k := range keys {
		if k == w.ID {
			continue
		}
		e, err := w.Bus.Workers.Get(ctx, k)
		if err != nil {
			continue
		}
		var p Presence
		if json.Unmarshal(e.Value(), &p) == nil {
			peers[k] = p
		}
	}
	return peers
}

// leastLoaded reports whether no live worker with room holds fewer
// cameras than n.
func leastLoaded(peers map[string]Presence, n int) bool {
	for _, p := range peers {
		if p.Cameras < n && p.Cameras < p.Capacity {
			return false
		}
	}
	return true
}

// rebalance gives one camera back, at most once per two lease TTLs, when
// this worker holds at least two more than a live worker with room (one
// that started later): that worker takes it. A moved camera loses its
// memory bank, hence the margin and the pace.
func (w *Worker) rebalance(peers map[string]Presence) {
	w.mu.Lock()
	n := len(w.owned)
	w.mu.Unlock()
	if n == 0 || time.Since(w.lastGive) < 2*w.Bus.LeaseTTL || leastLoaded(peers, n-1) {
		return
	}
	owned := w.Owned()
	name := owned[rand.N(len(owned))]
	w.Log.Info("worker: camera given back to rebalance", "camera", name, "cameras", n)
	w.lastGive = time.Now()
	w.drop(name, true)
}

// take leases at most one free camera per round, and only while no live
// worker with room holds fewer, so that workers share the cameras instead
// of the first started taking all.
func (w *Worker) take(ctx context.Context, peers map[string]Presence) {
	w.mu.Lock()
	n := len(w.owned)
	w.mu.Unlock()
	if n >= w.Capacity {
		return
	}
	names, err := w.Bus.CameraNames(ctx)
	if err != nil {
		w.Log.Warn("worker: cameras not listed", "err", err)
		return
	}
	if !leastLoaded(peers, n) {
		// Another worker has the turn; should it not take a free camera
		// (it cannot open it, say) for two TTLs, this one does.
		names = w.longFree(ctx, names)
	}
	rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names {
		w.mu.Lock()
		_, mine := w.owned[name]
		w.mu.Unlock()
		if mine || time.Now().Before(w.retryAt[name]) {
			continue
		}
		rev, cam, err := w.leases().take(ctx, name, time.Now())
		if err != nil {
			continue // held by another worker (or NATS away: next round)
		}
		if err := w.start(ctx, cam, rev); err != nil {
			w.failed(name)
			w.Log.Warn("worker: camera not started; lease given back", "camera", name, "err", err, "retry in", w.backoff[name])
			// Only the lease as this worker created it: never one that
			// moved on meanwhile (compare-and-set on the revision).
			_ = w.leases().release(ctx, name, rev)
			continue
		}
		return
	}
}

// longFree returns the cameras among names that have had no lease for
// two lease TTLs.
func (w *Worker) longFree(ctx context.Context, names []string) []string {
	if w.freeSince == nil {
		w.freeSince = map[string]time.Time{}
	}
	var out []string
	now := time.Now()
	for _, name := range names {
		if _, err := w.Bus.Leases.Get(ctx, name); !errors.Is(err, jetstream.ErrKeyNotFound) {
			delete(w.freeSince, name)
			continue
		}
		since, ok := w.freeSince[name]
		if !ok {
			w.freeSince[name] = now
		} else if now.Sub(since) > 2*w.Bus.LeaseTTL {
			out = append(out, name)
		}
	}
	return out
}

// start runs cam (as the lease handed it, with its source) under the
// lease at revision rev.
func (w *Worker) start(ctx context.Context, cam Camera, rev uint64) error {
	name := cam.Name
	run, err := w.Run.Start(ctx, cam)
	if err != nil {
		return err
	}
	c := &claim{started: time.Now(), rev: rev, renewed: time.Now(), run: run}
	c.sub, err = w.Bus.NC.Subscribe(Subject(name, "prompt"), func(m *nats.Msg) { w.prompt(ctx, name, run, m) })
	if err != nil {
		run.Stop()
		return fmt.Errorf("prompt subscription: %w", err)
	}
	w.mu.Lock()
	w.owned[name] = c
	w.mu.Unlock()
	w.Log.Info("worker: camera taken", "camera", name)
	return nil
}

// prompt answers a prompt request for a camera this worker tracks.
func (w *Worker) prompt(ctx context.Context, name string, run Running, m *nats.Msg) {
	reply := PromptReply{Worker: w.ID}
	if p, err := decodePrompt(m.Data); err != nil {
		reply.Error = err.Error()
	} else {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		reply.Object, err = run.Prompt(pctx, p)
		cancel()
		if err != nil {
			reply.Error = err.Error()
		}
	}
	data, _ := json.Marshal(reply)
	_ = m.Respond(data)
}

// drop stops a camera; release also gives its lease back (after its
// queued events are stored) so another worker can take it at once.
func (w *Worker) drop(name string, release bool) {
	w.mu.Lock()
	c := w.owned[name]
	delete(w.owned, name)
	w.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.sub.Unsubscribe()
	c.run.Stop()
	w.mu.Lock()
	rev := c.rev // the renewer may have moved it until now
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if release {
		if err := w.Events.Flush(ctx, name); err != nil {
			w.Log.Warn("worker: events not stored before release", "camera", name, "err", err)
		}
	}
	w.Events.Stop(name)
	if release {
		if err := w.leases().release(ctx, name, rev); err != nil {
			w.Log.Warn("worker: lease not given back; it expires", "camera", name, "err", err)
		}
	}
}

func (w *Worker) releaseAll() {
	for _, name := range w.Owned() {
		w.drop(name, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.Bus.Workers.Delete(ctx, w.ID)
}
