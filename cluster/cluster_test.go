package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
)

func startBus(t testing.TB, o Options) (*Embedded, *Bus) {
	t.Helper()
	emb, err := StartEmbedded(EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	bus, err := Connect(context.Background(), emb.URL(), emb.Admin(o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	// The leases' coordinator, as serve runs it with the embedded server.
	ctx, cancel := context.WithCancel(context.Background())
	coord := &Coordinator{Bus: bus, Grant: emb.SetGrants, Log: slog.New(slog.DiscardHandler)}
	done, err := coord.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return emb, bus
}

// connectAs connects to emb as the worker named user (added to the
// server's users, which are reloaded) and records the permissions it
// was refused.
func connectAs(t testing.TB, emb *Embedded, user string, o Options) (*Bus, *refusals) {
	t.Helper()
	if emb.Auth().Worker(user) == nil {
		if err := emb.AddWorker(user); err != nil {
			t.Fatal(err)
		}
	}
	c := emb.Auth().Worker(user)
	ref := &refusals{}
	o.User, o.Password, o.OnError = c.User, c.Password, ref.add
	bus, err := Connect(context.Background(), emb.URL(), o)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { bus.Close() })
	return bus, ref
}

// refusals collects the errors NATS reports asynchronously.
type refusals struct {
	mu   sync.Mutex
	errs []string
}

func (r *refusals) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err.Error())
}

func (r *refusals) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "; ")
}

// BenchmarkEmbeddedStart times what `vidseg serve` adds at start: the
// embedded server with JetStream on a fresh directory, a connection, and
// the streams and buckets.
func BenchmarkEmbeddedStart(b *testing.B) {
	for b.Loop() {
		emb, err := StartEmbedded(EmbeddedOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		bus, err := Connect(context.Background(), emb.URL(), emb.Admin(Options{}))
		if err != nil {
			b.Fatal(err)
		}
		bus.Close()
		emb.Close()
	}
}

func TestEmbeddedRefusesBadAddress(t *testing.T) {
	for _, addr := range []string{"nohostport", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := StartEmbedded(EmbeddedOptions{Dir: t.TempDir(), Addr: addr}); err == nil {
			t.Errorf("listen address %q accepted", addr)
		}
	}
	if _, err := StartEmbedded(EmbeddedOptions{}); err == nil {
		t.Error("no store directory accepted")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"door", "cam_1", "A-b"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", "ü", string(make([]byte, 65))} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestEventsContinueAndFence: a second publisher for a camera (its new
// worker) numbers events after the last one stored, a retried event is
// stored once, and the first publisher's later events are refused.
func TestEventsContinueAndFence(t *testing.T) {
	_, bus := startBus(t, Options{})
	ctx := context.Background()
	lost := make(chan string, 4)
	log := slog.New(slog.DiscardHandler)
	a := NewEventPublisher(bus, log, func(c string) { lost <- c })
	defer a.Close()
	next, err := a.Resume(ctx, "door")
	if err != nil || next != 1 {
		t.Fatalf("first resume: %d, %v", next, err)
	}
	ev := func(seq uint64) events.Event {
		return events.Event{ID: fmt.Sprintf("door:%d", seq), Seq: seq, Camera: "door", Kind: events.Appeared}
	}
	for s := uint64(1); s <= 3; s++ {
		a.Send(ev(s))
	}
	if err := a.Flush(ctx, "door"); err != nil {
		t.Fatal(err)
	}

	b := NewEventPublisher(bus, log, nil)
	defer b.Close()
	if next, err = b.Resume(ctx, "door"); err != nil || next != 4 {
		t.Fatalf("takeover: next event %d, %v; want 4", next, err)
	}
	b.Send(ev(4))
	if err := b.Flush(ctx, "door"); err != nil {
		t.Fatal(err)
	}
	// The old worker, cut off, goes on numbering from its own state.
	a.Send(ev(4))
	select {
	case c := <-lost:
		if c != "door" {
			t.Fatalf("lost %q", c)
		}
	case <-time.After(testutil.Patience(time.Minute)):
		t.Fatal("the old publisher was not fenced")
	}
	info, err := bus.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Errorf("%d events stored, want 4", info.State.Msgs)
	}
}

// stubRunner runs nothing: these tests are about the leases.
type stubRunner struct {
	mu      sync.Mutex
	started map[string]int
}

type stubCamera struct{ ended chan struct{} }

func (c stubCamera) Ended() <-chan struct{}                             { return c.ended }
func (c stubCamera) Prompt(context.Context, prompt.Prompt) (int, error) { return 1, nil }
func (c stubCamera) Stop()                                              {}

func (r *stubRunner) Start(_ context.Context, c Camera) (Running, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[c.Name]++
	return stubCamera{ended: make(chan struct{})}, nil
}

// TestLeasesMove: two workers of capacity 2 share three cameras; when one
// stops renewing (its context ends without giving the leases back is
// what kill -9 does; here it gives them back) the other takes its
// cameras up to its capacity.
func TestLeasesMove(t *testing.T) {
	emb, bus := startBus(t, Options{LeaseTTL: time.Second})
	ctx := context.Background()
	if err := bus.PutCameras(ctx, []Camera{{Name: "a"}, {Name: "b"}, {Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	newWorker := func(id string, capacity int) (*Worker, context.CancelFunc, chan struct{}) {
		wb, ref := connectAs(t, emb, id, Options{})
		t.Cleanup(func() {
			if s := ref.String(); s != "" {
				t.Errorf("worker %s refused: %s", id, s)
			}
		})
		bus := wb
		w := &Worker{ID: id, Capacity: capacity, Bus: bus, Run: &stubRunner{started: map[string]int{}}, Log: log}
		w.Events = NewEventPublisher(bus, log, w.LostCamera)
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.Serve(wctx) }()
		return w, cancel, done
	}
	w1, stop1, done1 := newWorker("w1", 2)
	w2, stop2, done2 := newWorker("w2", 2)
	defer func() { stop2(); <-done2 }()
	owners := func() string { return fmt.Sprintf("w1 %v, w2 %v", w1.Owned(), w2.Owned()) }
	waitFor(t, "three cameras taken", func() bool { return len(w1.Owned())+len(w2.Owned()) == 3 }, owners)
	for _, c := range []string{"a", "b", "c"} {
		l, err := bus.Owner(ctx, c)
		if err != nil || l.Worker == "" {
			t.Fatalf("camera %s: lease %+v, %v", c, l, err)
		}
	}
	stop1()
	<-done1
	waitFor(t, "w2 at capacity", func() bool { return len(w2.Owned()) == 2 }, owners)

	// A camera removed from the bucket is released.
	owned := w2.Owned()
	var keep []Camera
	for _, n := range []string{"a", "b", "c"} {
		if n != owned[0] {
			keep = append(keep, Camera{Name: n})
		}
	}
	if err := bus.PutCameras(ctx, keep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "removed camera released", func() bool {
		o := w2.Owned()
		return len(o) == 2 && !slices.Contains(o, owned[0])
	}, owners)
}

// waitFor polls ok until it holds; past a minute's patience it fails the
// test with what and, if given, state().
func waitFor(t testing.TB, what string, ok func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(testutil.Patience(time.Minute))
	for !ok() {
		if time.Now().After(deadline) {
			if state != nil {
				what += ": " + state()
			}
			t.Fatal(what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeasesRebalance: a worker started later gets a share of the cameras
// from the one that took them all.
func TestLeasesRebalance(t *testing.T) {
	emb, bus := startBus(t, Options{LeaseTTL: time.Second})
	ctx := context.Background()
	if err := bus.PutCameras(ctx, []Camera{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	start := func(id string) *Worker {
		bus, ref := connectAs(t, emb, id, Options{})
		t.Cleanup(func() {
			if s := ref.String(); s != "" {
				t.Errorf("worker %s refused: %s", id, s)
			}
		})
		w := &Worker{ID: id, Capacity: 4, Bus: bus, Run: &stubRunner{started: map[string]int{}}, Log: log}
		w.Events = NewEventPublisher(bus, log, w.LostCamera)
		wg.Go(func() { w.Serve(wctx) })
		return w
	}
	w1 := start("w1")
	waitFor(t, "w1 takes all four", func() bool { return len(w1.Owned()) == 4 }, nil)
	w2 := start("w2")
	waitFor(t, "two each", func() bool { return len(w1.Owned()) == 2 && len(w2.Owned()) == 2 }, nil)
}

// TestLeaseTakenAway: a worker whose lease was taken (it was cut off
// longer than the TTL and another worker took the camera) stops the
// camera at its next renewal and does not take it back.
func TestLeaseTakenAway(t *testing.T) {
	_, bus := startBus(t, Options{LeaseTTL: time.Second})
	ctx := context.Background()
	if err := bus.PutCameras(ctx, []Camera{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	w := &Worker{ID: "w1", Capacity: 1, Bus: bus, Run: &stubRunner{started: map[string]int{}}, Log: log}
	w.Events = NewEventPublisher(bus, log, w.LostCamera)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Serve(wctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "camera taken", func() bool { return len(w.Owned()) == 1 }, nil)
	if _, err := bus.Leases.Put(ctx, "a", []byte(`{"worker":"w2"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "camera stopped", func() bool { return len(w.Owned()) == 0 }, nil)
	// It stays with w2 while w2 renews (as a worker does, every TTL/4).
	for range 8 {
		if _, err := bus.Leases.Put(ctx, "a", []byte(`{"worker":"w2"}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(w.Bus.LeaseTTL / 4)
		if len(w.Owned()) != 0 {
			t.Fatal("w1 took the camera back from w2")
		}
	}
}
