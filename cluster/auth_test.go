package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// TestNATSRolePermissions: the relay only reads; a worker writes only
// its own presence, leases, journals, events and results; neither
// changes the cameras (their sources), the streams or another's inbox.
// A lease held by one worker is not taken by another's compare-and-set.
func TestNATSRolePermissions(t *testing.T) {
	emb, admin := startBus(t, Options{LeaseTTL: time.Minute})
	ctx := context.Background()
	if err := admin.PutCameras(ctx, []Camera{{Name: "door", Source: "rtsp://admin:hunter2@10.0.0.9/live"}, {Name: "gate"}}); err != nil {
		t.Fatal(err)
	}
	relayRef := &refusals{}
	relay, err := Connect(ctx, emb.URL(), emb.Relay(Options{OnError: relayRef.add}))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	w1, _ := connectAs(t, emb, "w1", Options{})
	w2, w2Ref := connectAs(t, emb, "w2", Options{})

	// Refused requests to JetStream are not answered: a short wait.
	refused := func(who string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed", who)
		}
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }

	c, cancel := short()
	_, err = relay.Cameras.Put(c, "door", []byte(`{"name":"door","source":"rtsp://evil/"}`))
	cancel()
	refused("relay writes a camera", err)
	c, cancel = short()
	_, err = relay.Leases.Put(c, "door", []byte(`{"worker":"relay"}`))
	cancel()
	refused("relay writes a lease", err)
	c, cancel = short()
	_, err = relay.JS.Publish(c, Subject("door", "events"), []byte(`{}`))
	cancel()
	refused("relay publishes an event", err)
	c, cancel = short()
	err = relay.JS.DeleteStream(c, EventsStream)
	cancel()
	refused("relay deletes the events stream", err)

	c, cancel = short()
	_, err = w2.Cameras.Put(c, "door", []byte(`{"name":"door","source":"rtsp://evil/"}`))
	cancel()
	refused("worker writes a camera", err)
	c, cancel = short()
	_, err = w2.Workers.Put(c, "w1", []byte(`{"capacity":0,"cameras":99}`))
	cancel()
	refused("worker writes another worker's presence", err)
	c, cancel = short()
	err = w2.JS.DeleteStream(c, EventsStream)
	cancel()
	refused("worker deletes the events stream", err)
	if _, err := w2.NC.SubscribeSync(InboxPrefix("w1") + ".>"); err == nil {
		if err := w2.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A refusal is a timeout here, which a slow machine could give an
	// allowed write too: the admin checks that nothing was written.
	if e, err := admin.Cameras.Get(ctx, "door"); err != nil || !strings.Contains(string(e.Value()), "hunter2@10.0.0.9") {
		t.Errorf("door's camera record after the refused writes: %v", err)
	}
	if e, err := admin.Workers.Get(ctx, "w1"); err == nil && strings.Contains(string(e.Value()), `"cameras":99`) {
		t.Error("w2's write of w1's presence was stored")
	}
	if _, err := admin.JS.Stream(ctx, EventsStream); err != nil {
		t.Errorf("events stream after the refused deletes: %v", err)
	}
	waitFor(t, "subscription to another's inbox refused", func() bool {
		return strings.Contains(w2Ref.String(), "Permissions Violation for Subscription to \""+InboxPrefix("w1"))
	}, w2Ref.String)
	if _, err := w2.Workers.Put(ctx, "w2", []byte(`{"capacity":1}`)); err != nil {
		t.Errorf("worker writes its own presence: %v", err)
	}

	// w1 holds door's lease; w2 cannot take it by create or by
	// compare-and-set on the revision it read before.
	rev, err := w1.Leases.Create(ctx, "door", []byte(`{"worker":"w1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Leases.Create(ctx, "door", []byte(`{"worker":"w2"}`)); err == nil {
		t.Error("w2 created door's lease held by w1")
	}
	if _, err := w1.Leases.Update(ctx, "door", []byte(`{"worker":"w1"}`), rev); err != nil {
		t.Fatalf("w1 renews: %v", err)
	}
	if _, err := w2.Leases.Update(ctx, "door", []byte(`{"worker":"w2"}`), rev); err == nil {
		t.Error("w2 overwrote door's lease with a stale revision")
	}
	if err := w2.Leases.Delete(ctx, "door", jetstream.LastRevision(rev)); err == nil {
		t.Error("w2 deleted door's lease with a stale revision")
	}
	if l, err := admin.Owner(ctx, "door"); err != nil || l.Worker != "w1" {
		t.Errorf("door's lease: %+v %v, want w1's", l, err)
	}
	// The relay reads what it serves.
	if names, err := relay.CameraNames(ctx); err != nil || len(names) != 2 {
		t.Errorf("relay lists cameras: %v %v", names, err)
	}
	if l, err := relay.Owner(ctx, "door"); err != nil || l.Worker != "w1" {
		t.Errorf("relay reads door's lease: %+v %v", l, err)
	}
	if s := relayRef.String(); !strings.Contains(s, "Permissions Violation") {
		t.Errorf("relay's refusals not reported: %q", s)
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
