package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
)

// TestNATSRefusesOutsiders: the embedded server takes no client without
// a role's credentials, on loopback too; an error never shows what was
// tried.
func TestNATSRefusesOutsiders(t *testing.T) {
	emb, bus := startBus(t, Options{})
	ctx := context.Background()
	if err := bus.PutCameras(ctx, []Camera{{Name: "door", Source: "rtsp://admin:hunter2@10.0.0.9/live"}}); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(emb.URL()); err == nil {
		nc.Close()
		t.Fatalf("an outsider connected to %s without credentials", emb.URL())
	}
	host := strings.TrimPrefix(emb.URL(), "nats://")
	for _, c := range []struct {
		name, url string
		o         Options
	}{
		{"no credentials", emb.URL(), Options{}},
		{"a token in the URL", "nats://guessedtoken@" + host, Options{}},
		{"a wrong password in the URL", "nats://" + RelayUser + ":guessedpassword@" + host, Options{}},
		{"a wrong password", emb.URL(), Options{User: AdminUser, Password: "guessedpassword"}},
		{"a token", emb.URL(), Options{Token: "guessedtoken"}},
	} {
		b, err := Connect(ctx, c.url, c.o)
		if err == nil {
			b.Close()
			t.Errorf("%s: connected", c.name)
			continue
		}
		if strings.Contains(err.Error(), "guessed") {
			t.Errorf("%s: the error shows the credentials: %v", c.name, err)
		}
	}
	// A worker's credentials from the file the front end writes connect.
	dir := t.TempDir()
	auth, err := LoadOrCreateAuth(filepath.Join(dir, "users.json"), []string{"worker1"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(WorkerAuthFile(dir, "worker1")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("worker credentials file: %v %v", fi, err)
	}
	again, err := LoadOrCreateAuth(filepath.Join(dir, "users.json"), []string{"worker1", "worker2"})
	if err != nil || again.Admin != auth.Admin || *again.Worker("worker1") != *auth.Worker("worker1") || again.Worker("worker2") == nil {
		t.Fatalf("credentials not kept across starts: %+v %+v %v", auth, again, err)
	}
	emb2, err := StartEmbedded(EmbeddedOptions{Dir: filepath.Join(dir, "js"), Auth: again})
	if err != nil {
		t.Fatal(err)
	}
	defer emb2.Close()
	if _, err := Connect(ctx, emb2.URL(), emb2.Admin(Options{})); err != nil {
		t.Fatal(err)
	}
	w, err := Connect(ctx, emb2.URL(), Options{AuthFile: WorkerAuthFile(dir, "worker1")})
	if err != nil {
		t.Fatalf("worker with its credentials file: %v", err)
	}
	defer w.Close()
	if w.User != "worker1" {
		t.Errorf("worker connected as %q", w.User)
	}
}

// TestNATSRolePermissions: the relay only reads, and reads no camera's
// source; a worker is refused everything but its own presence and the
// subjects, journal and prompts of the cameras it holds, which the
// coordinator grants as it writes their leases (the only way a lease is
// written) and takes back when the lease goes. Each refusal is checked
// by what the admin reads back (or, for a read, by the server's
// refusal), never by a timeout alone.
func TestNATSRolePermissions(t *testing.T) {
	emb, admin := startBus(t, Options{LeaseTTL: time.Minute})
	ctx := context.Background()
	if err := admin.PutCameras(ctx, []Camera{{Name: "door", Source: "rtsp://admin:hunter2@10.0.0.9/live"}, {Name: "gate", Source: "rtsp://gate:s3cret@10.0.0.8/"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Journal.Create(ctx, "door", []byte(`{"prompts":[{"object":1,"points":[{"x":1,"y":2,"positive":true}]}]}`)); err != nil {
		t.Fatal(err)
	}
	relayRef := &refusals{}
	relay, err := Connect(ctx, emb.URL(), emb.Relay(Options{OnError: relayRef.add}))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	w1, w1Ref := connectAs(t, emb, "w1", Options{})
	w2, w2Ref := connectAs(t, emb, "w2", Options{})

	// w1 takes door, w2 gate, through the coordinator: each gets its
	// camera's source with the lease, and only there.
	rev1, cam, err := leaser{bus: w1, worker: "w1"}.take(ctx, "door", time.Now())
	if err != nil || cam.Source != "rtsp://admin:hunter2@10.0.0.9/live" {
		t.Fatalf("w1 takes door: %+v %v", cam, err)
	}
	if _, cam, err = (leaser{bus: w2, worker: "w2"}).take(ctx, "gate", time.Now()); err != nil || cam.Source != "rtsp://gate:s3cret@10.0.0.8/" {
		t.Fatalf("w2 takes gate: %+v %v", cam, err)
	}
	if _, _, err := (leaser{bus: w2, worker: "w2"}).take(ctx, "door", time.Now()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("w2 takes door held by w1: %v", err)
	}
	// The records every worker and the relay read have no source.
	for who, b := range map[string]*Bus{"w2": w2, "relay": relay} {
		if c, err := b.Camera(ctx, "door"); err != nil || c.Source != "" {
			t.Errorf("%s reads door's record: %+v %v", who, c, err)
		}
	}

	// Writes that must not happen, sent as plain publishes (a JetStream
	// publish refused is only a timeout); then one allowed publish on the
	// same connection whose ack says the server has handled them all.
	forged := []byte(`{"id":"door:1","seq":1,"camera":"door","kind":"appeared"}`)
	leaseBefore, err := admin.Leases.Get(ctx, "door")
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{
		Subject("door", "events"),
		Subject("door", "results"),
		"$KV." + LeasesBucket + ".door",  // a lease, directly
		"$KV." + LeasesBucket + ".gate",  // even its own
		"$KV." + JournalBucket + ".door", // another camera's journal
		"$KV." + SourcesBucket + ".gate", // a source
		"$KV." + CamerasBucket + ".door", // a camera
		"$KV." + WorkersBucket + ".w1",   // another's presence
		LeaseSubject("w1", "release"),    // the coordinator, as w1
		"$JS.API.STREAM.DELETE." + EventsStream,
	} {
		if err := w2.NC.Publish(subj, forged); err != nil {
			t.Fatal(err)
		}
	}
	// Through the coordinator, w2 can neither renew door's lease with the
	// revision it reads nor give it back.
	if _, err := (leaser{bus: w2, worker: "w2"}).renew(ctx, "door", time.Now(), leaseBefore.Revision()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("w2 renews door's lease: %v", err)
	}
	if err := (leaser{bus: w2, worker: "w2"}).release(ctx, "door", leaseBefore.Revision()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("w2 gives door's lease back: %v", err)
	}
	if _, err := w2.JS.Publish(ctx, Subject("gate", "events"), []byte(`{"id":"gate:1","seq":1,"camera":"gate","kind":"appeared"}`), jetstream.WithMsgID("gate:1")); err != nil {
		t.Fatalf("w2 publishes its own camera's event: %v", err)
	}
	if _, err := admin.Events.GetLastMsgForSubject(ctx, Subject("door", "events")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("w2's event for door was stored: %v", err)
	}
	if _, err := admin.Results.GetLastMsgForSubject(ctx, Subject("door", "results")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("w2's result for door was stored: %v", err)
	}
	if e, err := admin.Leases.Get(ctx, "door"); err != nil || e.Revision() != leaseBefore.Revision() {
		t.Errorf("door's lease after w2's writes: %v (revision moved: %v)", err, e != nil && e.Revision() != leaseBefore.Revision())
	}
	if l, err := admin.Owner(ctx, "gate"); err != nil || l.Worker != "w2" {
		t.Errorf("gate's lease after w2's direct write: %+v %v", l, err)
	}
	if e, err := admin.Journal.Get(ctx, "door"); err != nil || strings.Contains(string(e.Value()), "door:1") {
		t.Errorf("door's journal after w2's write: %v", err)
	}
	if e, err := admin.Sources.Get(ctx, "gate"); err != nil || string(e.Value()) != "rtsp://gate:s3cret@10.0.0.8/" {
		t.Errorf("gate's source after w2's write: %v", err)
	}
	if e, err := admin.Cameras.Get(ctx, "door"); err != nil || strings.Contains(string(e.Value()), "door:1") {
		t.Errorf("door's record after w2's write: %v", err)
	}
	if _, err := admin.Workers.Get(ctx, "w1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("w2 wrote w1's presence: %v", err)
	}
	if _, err := admin.JS.Stream(ctx, EventsStream); err != nil {
		t.Errorf("events stream after w2's delete: %v", err)
	}
	for _, subj := range []string{Subject("door", "events"), "$KV." + LeasesBucket + ".door", "$KV." + SourcesBucket + ".gate",
		LeaseSubject("w1", "release"), "$JS.API.STREAM.DELETE." + EventsStream} {
		waitFor(t, "w2 told of its refused publish to "+subj, func() bool {
			return strings.Contains(w2Ref.String(), "Permissions Violation for Publish to \""+subj)
		}, w2Ref.String)
	}

	// Reads refused: door's journal (users' prompts), any source (by a
	// key or by listing the bucket), door's prompts, w1's inbox.
	// A refused request is never answered: the reads run at once, each
	// ending at a short deadline; the server's refusal is what counts.
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }
	reads := map[string]func(context.Context) error{
		"w2 read door's journal": func(c context.Context) error { _, err := w2.Journal.Get(c, "door"); return err },
		"w2 read door's source":  func(c context.Context) error { _, err := w2.Sources.Get(c, "door"); return err },
		"w2 listed the sources":  func(c context.Context) error { _, err := w2.Sources.Keys(c); return err },
		"the relay read door's source": func(c context.Context) error {
			_, err := relay.Sources.Get(c, "door")
			return err
		},
	}
	var wg sync.WaitGroup
	for what, read := range reads {
		wg.Go(func() {
			c, cancel := short()
			defer cancel()
			if read(c) == nil {
				t.Error(what)
			}
		})
	}
	for _, subj := range []string{Subject("door", "prompt"), InboxPrefix("w1") + ".x"} {
		if _, err := w2.NC.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, want := range []string{
		"Publish to \"$JS.API.DIRECT.GET.KV_" + JournalBucket + ".$KV." + JournalBucket + ".door",
		"Publish to \"$JS.API.DIRECT.GET.KV_" + SourcesBucket,
		"Publish to \"$JS.API.CONSUMER.CREATE.KV_" + SourcesBucket,
		"Subscription to \"" + Subject("door", "prompt"),
		"Subscription to \"" + InboxPrefix("w1"),
	} {
		waitFor(t, "w2 refused "+want, func() bool { return strings.Contains(w2Ref.String(), want) }, w2Ref.String)
	}
	waitFor(t, "the relay refused door's source", func() bool {
		return strings.Contains(relayRef.String(), "Publish to \"$JS.API.DIRECT.GET.KV_"+SourcesBucket)
	}, relayRef.String)

	// What w2 may: its own presence, its camera's journal.
	if _, err := w2.Workers.Put(ctx, "w2", []byte(`{"capacity":1}`)); err != nil {
		t.Errorf("worker writes its own presence: %v", err)
	}
	if _, err := w2.Journal.Create(ctx, "gate", []byte(`{"prompts":[]}`)); err != nil {
		t.Errorf("w2 writes gate's journal: %v", err)
	}
	if _, err := w2.Journal.Get(ctx, "gate"); err != nil {
		t.Errorf("w2 reads gate's journal: %v", err)
	}

	// w1 renews door; once it gives door back, its permissions go with
	// the lease: a later event for door is refused.
	rev1, err = leaser{bus: w1, worker: "w1"}.renew(ctx, "door", time.Now(), rev1)
	if err != nil {
		t.Fatalf("w1 renews door: %v", err)
	}
	if err := (leaser{bus: w1, worker: "w1"}).release(ctx, "door", rev1); err != nil {
		t.Fatalf("w1 gives door back: %v", err)
	}
	if err := w1.NC.Publish(Subject("door", "events"), forged); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.Workers.Put(ctx, "w1", []byte(`{"capacity":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Events.GetLastMsgForSubject(ctx, Subject("door", "events")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("w1's event for door after it gave door back was stored: %v", err)
	}
	waitFor(t, "w1 refused door's events after giving it back", func() bool {
		return strings.Contains(w1Ref.String(), "Permissions Violation for Publish to \""+Subject("door", "events"))
	}, w1Ref.String)

	// The relay reads what it serves and writes nothing.
	c, cancel := short()
	_, err = relay.Leases.Put(c, "door", []byte(`{"worker":"relay"}`))
	cancel()
	if err == nil {
		t.Error("the relay wrote a lease")
	}
	if _, err := admin.Leases.Get(ctx, "door"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("door's lease after the relay's write: %v", err)
	}
	if names, err := relay.CameraNames(ctx); err != nil || len(names) != 2 {
		t.Errorf("relay lists cameras: %v %v", names, err)
	}
	if l, err := relay.Owner(ctx, "gate"); err != nil || l.Worker != "w2" {
		t.Errorf("relay reads gate's lease: %+v %v", l, err)
	}
}

// TestRelayForgedSeq: an event numbered 2^64-1 (or not matching its
// subject, or its id) in the stream does not silence the camera's real
// events at the front end, and the camera's next worker numbers after
// the stream's sequence instead of overflowing.
func TestRelayForgedSeq(t *testing.T) {
	emb, bus := startBus(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rbus, err := Connect(ctx, emb.URL(), emb.Relay(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer rbus.Close()
	got := make(chan events.Event, 16)
	r := &Relay{Bus: rbus, Durable: "fe", Log: slog.New(slog.DiscardHandler), Publish: func(_ string, evs []events.Event) {
		for _, e := range evs {
			got <- e
		}
	}}
	done := make(chan struct{})
	go func() { defer close(done); r.RunEvents(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "front end's consumer", func() bool {
		_, err := bus.Events.Consumer(ctx, "fe")
		return err == nil
	}, nil)
	forge := func(subject, id string, seq uint64) {
		t.Helper()
		data, _ := json.Marshal(events.Event{ID: id, Seq: seq, Camera: "door", Kind: events.Appeared})
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		if _, err := bus.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	const huge = uint64(math.MaxUint64)
	forge(Subject("door", "events"), "door:"+strconv.FormatUint(huge, 10), huge)
	forge(Subject("gate", "events"), "door:1", 1) // another camera's subject
	forge(Subject("door", "events"), "door:7", 2) // id does not match

	p := NewEventPublisher(bus, slog.New(slog.DiscardHandler), nil)
	defer p.Close()
	next, err := p.Resume(ctx, "door")
	if err != nil {
		t.Fatal(err)
	}
	if next != 4 { // after the 3 forged messages' stream sequences
		t.Errorf("next event number after forged ones: %d, want 4 (after the stream's sequence)", next)
	}
	for s := next; s < next+2; s++ {
		p.Send(events.Event{ID: "door:" + strconv.FormatUint(s, 10), Seq: s, Camera: "door", Kind: events.Appeared})
	}
	for want := next; want < next+2; {
		select {
		case e := <-got:
			if e.Seq != want {
				t.Fatalf("front end relayed %s, want door:%d (forged events refused)", e.ID, want)
			}
			want++
		case <-time.After(testutil.Patience(30 * time.Second)):
			t.Fatalf("the camera's real event door:%d never reached the front end after forged ones", want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://s3cret@h:4222":                    "nats://REDACTED@h:4222",
		"nats://u:p4ss@h:4222,nats://tok@h2:4222": "nats://REDACTED@h:4222,nats://REDACTED@h2:4222",
		"nats://h:4222":                           "nats://h:4222",
		"s3cret@h:4222":                           "REDACTED@h:4222",
		"nats://u:p%ZZ@h:4222":                    "nats://REDACTED@h:4222",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	_, err := Connect(context.Background(), "nats://s3cret@127.0.0.1:1", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("connect error shows the token: %v", err)
	}
}

// BenchmarkGrants times one change of the workers' per-camera
// permissions (a server reload), what the coordinator does each time a
// camera changes hands: 8 workers, 32 cameras.
func BenchmarkGrants(b *testing.B) {
	var workers []string
	for i := range 8 {
		workers = append(workers, "w"+strconv.Itoa(i))
	}
	auth, err := NewAuth(workers)
	if err != nil {
		b.Fatal(err)
	}
	emb, err := StartEmbedded(EmbeddedOptions{Dir: b.TempDir(), Auth: auth})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	grants := map[string][]string{}
	for c := range 32 {
		w := workers[c%len(workers)]
		grants[w] = append(grants[w], "cam"+strconv.Itoa(c))
	}
	for b.Loop() {
		// Two workers' cameras change hands.
		grants["w0"], grants["w1"] = grants["w1"], grants["w0"]
		if err := emb.SetGrants(grants); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGrantsFollowExpiry: a worker that stops renewing (cut off, hung)
// loses its camera's permissions with the lease, without any request.
func TestGrantsFollowExpiry(t *testing.T) {
	emb, admin := startBus(t, Options{LeaseTTL: time.Second})
	ctx := context.Background()
	if err := admin.PutCameras(ctx, []Camera{{Name: "door", Source: "rtsp://cam/"}}); err != nil {
		t.Fatal(err)
	}
	w1, ref := connectAs(t, emb, "w1", Options{})
	if _, _, err := (leaser{bus: w1, worker: "w1"}).take(ctx, "door", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.JS.Publish(ctx, Subject("door", "results"), []byte(`{}`)); err != nil {
		t.Fatalf("w1 publishes door's result while it holds door: %v", err)
	}
	waitFor(t, "door's lease expired", func() bool {
		_, err := admin.Leases.Get(ctx, "door")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}, nil)
	waitFor(t, "w1 refused door's results once its lease expired", func() bool {
		_ = w1.NC.Publish(Subject("door", "results"), []byte(`{}`))
		_ = w1.NC.Flush()
		return strings.Contains(ref.String(), "Permissions Violation for Publish to \""+Subject("door", "results"))
	}, ref.String)
}

// TestMoveSources: a camera record put with its source in it (by an
// older vidseg, or by hand) loses it to the sources bucket, and a worker
// taking the camera still gets it.
func TestMoveSources(t *testing.T) {
	emb, admin := startBus(t, Options{})
	ctx := context.Background()
	if _, err := admin.Cameras.Put(ctx, "door", []byte(`{"name":"door","source":"rtsp://admin:hunter2@10.0.0.9/live"}`)); err != nil {
		t.Fatal(err)
	}
	if err := admin.MoveSources(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := admin.Cameras.Get(ctx, "door"); err != nil || strings.Contains(string(e.Value()), "hunter2") {
		t.Errorf("door's record after MoveSources: %s %v", e.Value(), err)
	}
	w1, _ := connectAs(t, emb, "w1", Options{})
	if _, cam, err := (leaser{bus: w1, worker: "w1"}).take(ctx, "door", time.Now()); err != nil || cam.Source != "rtsp://admin:hunter2@10.0.0.9/live" {
		t.Errorf("w1 takes door: %+v %v", cam, err)
	}
}

// TestConnectWhileGrantsReload: the server re-checks every connection
// when the coordinator reloads its users, and one still in its handshake
// fails that check; a worker connecting then still gets in. Reloads come
// every 5 ms here, far more often than leases move.
func TestConnectWhileGrantsReload(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	admin, err := Connect(context.Background(), emb.URL(), emb.Admin(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := emb.AddWorker("w1"); err != nil {
		t.Fatal(err)
	}
	c := emb.Auth().Worker("w1")
	stop := make(chan struct{})
	reloaded := make(chan error, 1)
	go func() {
		var err error
		for i := 0; err == nil; i++ {
			select {
			case <-stop:
				reloaded <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
			err = emb.SetGrants(map[string][]string{"w1": {"cam" + strconv.Itoa(i%2)}})
		}
		reloaded <- err
	}()
	defer func() {
		close(stop)
		if err := <-reloaded; err != nil {
			t.Errorf("reload: %v", err)
		}
	}()
	for i := range 40 {
		b, err := Connect(context.Background(), emb.URL(), Options{User: c.User, Password: c.Password})
		if err != nil {
			t.Fatalf("connect %d during reloads: %v", i, err)
		}
		b.Close()
	}
}
