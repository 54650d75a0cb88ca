package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/testutil"
)

// TestRelayRoutes: the front end's cluster routes refuse bad input with a
// clear answer, list cameras with their workers, stream results as
// workers publish them, forward prompts to the owning worker, and relay
// events once each.
func TestRelayRoutes(t *testing.T) {
	emb, bus := startBus(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The relay runs as the read-only relay user, as in serve.
	ref := &refusals{}
	rbus, err := Connect(ctx, emb.URL(), emb.Relay(Options{OnError: ref.add}))
	if err != nil {
		t.Fatal(err)
	}
	defer rbus.Close()
	defer func() {
		if s := ref.String(); s != "" {
			t.Errorf("relay refused: %s", s)
		}
	}()
	if err := bus.PutCameras(ctx, []Camera{{Name: "door"}, {Name: "gate"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Leases.Create(ctx, "door", []byte(`{"worker":"w1"}`)); err != nil {
		t.Fatal(err)
	}
	got := make(chan events.Event, 16)
	r := &Relay{Bus: rbus, Durable: "fe_test", Log: slog.New(slog.DiscardHandler),
		Publish: func(_ string, evs []events.Event) {
			for _, e := range evs {
				got <- e
			}
		}}
	mux := http.NewServeMux()
	r.Routes(func(p string, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	go r.RunEvents(ctx)

	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		return resp.StatusCode, b.String()
	}
	click := `{"points":[{"x":10,"y":10,"positive":true}]}`
	for _, c := range []struct {
		path, body string
		code       int
		says       string
	}{
		{"/api/cluster/cameras/a.b/prompts", click, 400, "camera name"},
		{"/api/cluster/cameras/door/prompts", `{}`, 400, "no points, box or mask"},
		{"/api/cluster/cameras/door/prompts", `{"points":`, 400, "prompt"},
		{"/api/cluster/cameras/door/prompts", `{"points":[` + strings.Repeat(`{"x":1,"y":1},`, 80000) + `{"x":1,"y":1}]}`, 413, "too large"},
		{"/api/cluster/cameras/gate/prompts", click, 503, "has no worker"},
	} {
		if code, body := post(c.path, c.body); code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("POST %s: %d %s, want %d saying %q", c.path, code, body, c.code, c.says)
		}
	}
	// The owning worker answers on its subject.
	sub, err := bus.NC.Subscribe(Subject("door", "prompt"), func(m *nats.Msg) { m.Respond([]byte(`{"object":3,"worker":"w1"}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := bus.NC.Flush(); err != nil { // subscribed before the relay asks
		t.Fatal(err)
	}
	if code, body := post("/api/cluster/cameras/door/prompts", click); code != 200 || !strings.Contains(body, `"object":3`) {
		t.Errorf("forwarded prompt: %d %s", code, body)
	}

	resp, err := http.Get(srv.URL + "/api/cluster/cameras")
	if err != nil {
		t.Fatal(err)
	}
	var list []CameraStatus
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 2 || list[0].Camera != "door" || list[0].Worker != "w1" || list[1].Worker != "" {
		t.Errorf("cameras: %+v", list)
	}
	if resp, err := http.Get(srv.URL + "/api/cluster/results?camera=a*"); err != nil || resp.StatusCode != 400 {
		t.Errorf("results of a bad camera name: %v %v", resp.StatusCode, err)
	}

	// Results: the latest first, then new ones.
	bus.NC.Publish(Subject("door", "results"), []byte(`{"camera":"door","frame":1}`))
	bus.NC.Flush()
	resp, err = http.Get(srv.URL + "/api/cluster/results?camera=door")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
	}()
	// A message that would end the event early and add one of its own is
	// refused; one spread over lines is sent on one.
	bus.NC.Publish(Subject("door", "results"), []byte("{\"camera\":\"door\",\"frame\":9}\n\nevent: result\ndata: {\"camera\":\"door\",\"forged\":true}"))
	bus.NC.Publish(Subject("door", "results"), []byte("{\"camera\":\"door\",\n\"frame\":3}"))
	bus.NC.Publish(Subject("door", "results"), []byte(`{"camera":"door","frame":2}`))
	for _, want := range []string{`"frame":1`, `{"camera":"door","frame":3}`, `"frame":2`} {
		select {
		case l := <-lines:
			if !strings.Contains(l, want) {
				t.Errorf("result %s, want %s", l, want)
			}
		case <-time.After(testutil.Patience(time.Minute)):
			t.Fatalf("no result with %s", want)
		}
	}

	// Events: relayed in order; one seen again (a redelivery) dropped.
	pub := NewEventPublisher(bus, slog.New(slog.DiscardHandler), nil)
	defer pub.Close()
	if _, err := pub.Resume(ctx, "door"); err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 3; s++ {
		pub.Send(events.Event{ID: "door:" + string(rune('0'+s)), Seq: s, Camera: "door"})
	}
	for s := uint64(1); s <= 3; s++ {
		select {
		case e := <-got:
			if e.Seq != s {
				t.Fatalf("relayed event %d, want %d", e.Seq, s)
			}
		case <-time.After(testutil.Patience(time.Minute)):
			t.Fatalf("event %d not relayed", s)
		}
	}
	again, _ := json.Marshal(events.Event{ID: "door:2", Seq: 2, Camera: "door"})
	if _, err := bus.JS.Publish(ctx, Subject("door", "events"), again); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Resume(ctx, "door"); err != nil { // after the stray copy
		t.Fatal(err)
	}
	pub.Send(events.Event{ID: "door:4", Seq: 4, Camera: "door"})
	select {
	case e := <-got:
		if e.Seq != 4 {
			t.Fatalf("relayed event %d, want 4 (event 2 again dropped)", e.Seq)
		}
	case <-time.After(testutil.Patience(time.Minute)):
		t.Fatal("event 4 not relayed")
	}
}
