package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookOptions configure a Webhook. Zero fields take the defaults in brackets.
type WebhookOptions struct {
	Client     *http.Client  // [a client with a 10s timeout]
	MinBackoff time.Duration // first retry delay [250ms]; doubles up to MaxBackoff
	MaxBackoff time.Duration // [30s]
	MaxBatch   int           // events per POST [64]
	MaxQueue   int           // events waiting; past it the oldest are dropped and counted [10000]
	Logger     *slog.Logger  // [discard]
}

// Webhook POSTs events to a URL as {"events":[...]} in order, in batches.
// A batch that fails (network error, 5xx, 408, 429) is retried with
// exponential backoff and jitter until it is accepted, so nothing is lost
// while the process runs; each event keeps its ID across retries so the
// receiver can drop a batch it accepted but whose answer was lost. A 4xx
// answer means the receiver refuses the batch: it is dropped and counted.
type Webhook struct {
	url  string
	opts WebhookOptions

	mu     sync.Mutex
	queue  []Event
	shed   int64 // events dropped from the front of queue, ever
	wake   chan struct{}
	closed bool

	cancel context.CancelFunc
	done   chan struct{}

	delivered, retries, dropped atomic.Int64
}

// NewWebhook starts delivering to url; Close stops it.
func NewWebhook(url string, opts WebhookOptions) *Webhook {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{url: url, opts: opts, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

// Send queues e for delivery.
func (w *Webhook) Send(e Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	if len(w.queue) >= w.opts.MaxQueue {
		w.queue = w.queue[1:]
		w.shed++
		w.dropped.Add(1)
	}
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// WebhookStats counts deliveries.
type WebhookStats struct {
	Delivered, Retries, Dropped int64
	Queued                      int
}

// Stats returns the delivery counters.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	q := len(w.queue)
	w.mu.Unlock()
	return WebhookStats{Delivered: w.delivered.Load(), Retries: w.retries.Load(), Dropped: w.dropped.Load(), Queued: q}
}

// Close delivers what is queued, waiting at most until ctx ends, then stops.
func (w *Webhook) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		st := w.Stats()
		return fmt.Errorf("events: webhook %s: %d events undelivered at close: %w", w.url, st.Queued, ctx.Err())
	}
}

func (w *Webhook) run(ctx context.Context) {
	defer close(w.done)
	for {
		w.mu.Lock()
		n := min(len(w.queue), w.opts.MaxBatch)
		batch := append([]Event(nil), w.queue[:n]...)
		closed, shed := w.closed, w.shed
		w.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if !w.deliver(ctx, batch) {
			return // cancelled
		}
		w.mu.Lock()
		// Overflow may have shed some of this batch from the queue already.
		k := max(0, n-int(w.shed-shed))
		w.queue = w.queue[min(k, len(w.queue)):]
		w.mu.Unlock()
	}
}

// deliver posts batch until it is accepted or refused; false if ctx ended.
func (w *Webhook) deliver(ctx context.Context, batch []Event) bool {
	body, err := json.Marshal(struct {
		Events []Event `json:"events"`
	}{batch})
	if err != nil {
		return true // unreachable: events always marshal
	}
	backoff := w.opts.MinBackoff
	for {
		status, err := w.post(ctx, body, batch)
		switch {
		case err == nil && status/100 == 2:
			w.delivered.Add(int64(len(batch)))
			return true
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			w.dropped.Add(int64(len(batch)))
			w.opts.Logger.Warn("events: webhook refused a batch; dropped", "url", w.url, "status", status,
				"first", batch[0].ID, "events", len(batch))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.retries.Add(1)
		w.opts.Logger.Info("events: webhook delivery failed; retrying", "url", w.url, "status", status, "err", err, "in", backoff)
		// Full jitter keeps many servers from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, w.opts.MaxBackoff)
	}
}

func (w *Webhook) post(ctx context.Context, body []byte, batch []Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// One key per batch: the same on every retry of it.
	req.Header.Set("Idempotency-Key", batch[0].ID+".."+batch[len(batch)-1].ID)
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
