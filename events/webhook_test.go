package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A real HTTP receiver on loopback that fails its first requests (500s,
// then a dropped connection): every event arrives once, in order.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	var (
		mu       sync.Mutex
		requests int
		got      []Event
		keys     []string
	)
	all := make(chan struct{})
	const total = 150
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		switch requests {
		case 1, 2:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		case 3:
			// Drop the connection without an answer.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		var body struct{ Events []Event }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		got = append(got, body.Events...)
		if len(got) == total {
			close(all)
		}
	}))
	defer srv.Close()

	wh := NewWebhook(srv.URL, WebhookOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxBatch: 64})
	for i := 1; i <= total; i++ {
		wh.Send(Event{ID: fmt.Sprintf("cam:%d", i), Seq: uint64(i), Kind: Appeared, Camera: "cam", Object: i})
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver got %d of %d events; stats %+v", len(got), total, wh.Stats())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wh.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: lost, duplicated or out of order", i, e.Seq)
		}
	}
	st := wh.Stats()
	// net/http itself retries the dropped connection once (the request
	// carries an Idempotency-Key), so that failure may not reach us.
	if st.Delivered != total || st.Retries < 2 || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats %+v, want %d delivered after 2 or 3 retries", st, total)
	}
	if len(keys) == 0 || keys[0] != "cam:1..cam:64" {
		t.Errorf("idempotency keys %q", keys)
	}
}

func TestWebhookRefusedBatchIsDroppedAndCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	wh := NewWebhook(srv.URL, WebhookOptions{MinBackoff: time.Millisecond})
	wh.Send(Event{ID: "c:1", Seq: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wh.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := wh.Stats(); st.Dropped != 1 || st.Delivered != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want one dropped without retries", st)
	}
}

func TestJSONLFile(t *testing.T) {
	path := t.TempDir() + "/events.jsonl"
	j, err := OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDetector(Config{Camera: "cam", Frames: 1}, Geometry{})
	for _, e := range d.Observe(Frame{Index: 3, PTS: 100 * time.Millisecond, Objects: []Observation{{Object: 2, Score: 4}}}) {
		j.Send(e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, _ := OpenJSONL(path) // appends
	j2.Send(Event{ID: "cam:2", Seq: 2, Kind: Left, Camera: "cam", Object: 2})
	j2.Close()
	evs, err := ReadJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != Appeared || evs[0].Frame != 3 || evs[0].PTSms != 100 || evs[1].Seq != 2 {
		t.Errorf("read back %+v", evs)
	}
}
