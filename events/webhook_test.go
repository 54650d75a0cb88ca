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
// TestWebhookRetriesUntilDelivered checks what the webhook promises, not how
// it happens to batch: every event is delivered once and in order, each
// request's Idempotency-Key names its batch's first and last event, and a
// failed request is retried with the same batch under the same key. How many
// events a batch holds depends on timing and is not asserted.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	type attempt struct {
		key  string
		seqs []uint64
		ok   bool
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		got      []Event
	)
	all := make(chan struct{})
	const total = 150
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Events []Event }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		a := attempt{key: r.Header.Get("Idempotency-Key")}
		for _, e := range body.Events {
			a.seqs = append(a.seqs, e.Seq)
		}
		n := len(attempts)
		attempts = append(attempts, a)
		switch n {
		case 0, 1:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		case 2:
			// Drop the connection without an answer.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		attempts[n].ok = true
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
	case <-time.After(5 * time.Minute): // a deadlock guard, not a speed bound
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("receiver got %d of %d events; stats %+v", len(got), total, wh.Stats())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
	for i, a := range attempts {
		if len(a.seqs) == 0 || len(a.seqs) > 64 {
			t.Fatalf("attempt %d carries %d events, want 1..64 (MaxBatch)", i, len(a.seqs))
		}
		if want := fmt.Sprintf("cam:%d..cam:%d", a.seqs[0], a.seqs[len(a.seqs)-1]); a.key != want {
			t.Errorf("attempt %d: Idempotency-Key %q, want %q", i, a.key, want)
		}
		if a.ok {
			continue
		}
		// A failed batch comes back unchanged under the same key.
		if i+1 >= len(attempts) {
			t.Fatalf("attempt %d failed and was never retried", i)
		}
		next := attempts[i+1]
		if next.key != a.key || fmt.Sprint(next.seqs) != fmt.Sprint(a.seqs) {
			t.Errorf("attempt %d (%s, %d events) retried as %s with %d events", i, a.key, len(a.seqs), next.key, len(next.seqs))
		}
	}
	st := wh.Stats()
	// net/http itself retries the dropped connection once (the request
	// carries an Idempotency-Key), so that failure may not reach us.
	if st.Delivered != total || st.Retries < 2 || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats %+v, want %d delivered after 2 or 3 retries", st, total)
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
