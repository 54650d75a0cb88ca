package sam

import (
	"context"
	"testing"
	"time"
)

// order records which client got the model, in turn.
func grabbed(t *testing.T, c *Client, name string, got chan<- string) {
	t.Helper()
	go func() {
		if err := c.acquire(context.Background()); err != nil {
			got <- "error " + name
			return
		}
		got <- name
	}()
}

// waitQueued waits until n calls wait for the model.
func waitQueued(t *testing.T, s *Scheduler, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		q := len(s.high) + len(s.low)
		s.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", q, n)
		}
	}
}

// A prompt's calls go before queued background calls, including the call
// its own session had already queued, and no background call starts
// between them.
func TestSchedulerUrgentFirst(t *testing.T) {
	s := NewScheduler(nil)
	a, b, c, d := s.Client(), s.Client(), s.Client(), s.Client()
	got := make(chan string, 8)
	if err := a.acquire(context.Background()); err != nil { // a runs a step
		t.Fatal(err)
	}
	grabbed(t, b, "b", got)
	waitQueued(t, s, 1)
	grabbed(t, c, "c", got)
	waitQueued(t, s, 2)
	grabbed(t, d, "d-track", got) // d's tracking, queued behind b and c
	waitQueued(t, s, 3)
	done := d.Urgent() // a prompt arrives for d
	a.release()
	if first := <-got; first != "d-track" {
		t.Fatalf("after a's call, %s went first; want d's (urgent)", first)
	}
	d.release()
	// d's prompt is not in yet: the model idles rather than start b.
	select {
	case who := <-got:
		t.Fatalf("%s started between the urgent client's calls", who)
	case <-time.After(50 * time.Millisecond):
	}
	grabbed(t, d, "d-prompt", got)
	if next := <-got; next != "d-prompt" {
		t.Fatalf("%s went before d's prompt", next)
	}
	d.release()
	done()
	// Then background calls in arrival order.
	if next := <-got; next != "b" {
		t.Fatalf("%s went first after the prompt; want b", next)
	}
	b.release()
	if next := <-got; next != "c" {
		t.Fatalf("%s went second; want c", next)
	}
	c.release()
}

// A waiter whose context ends leaves the queue and the model stays usable.
func TestSchedulerCancel(t *testing.T) {
	s := NewScheduler(nil)
	a, b := s.Client(), s.Client()
	if err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.acquire(ctx) }()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("acquire after cancel succeeded")
	}
	a.release()
	if err := b.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.release()
}
