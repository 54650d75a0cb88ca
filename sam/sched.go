package sam

import (
	"context"
	"sync"
)

// Scheduler shares one Model between sessions. A Model is not safe for
// concurrent use, so its graph runs go one at a time; the scheduler picks
// who goes next: clients with a prompt waiting (Client.Urgent) before
// background tracking, and background calls first come first served, so
// sessions take turns call by call. Manifest and Constant read immutable
// data and never wait, so opening a tracker never waits on the model.
type Scheduler struct {
	m *Model

	mu     sync.Mutex
	busy   bool
	urgent int       // clients inside Urgent
	high   []*waiter // calls of urgent clients, in arrival order
	low    []*waiter
}

type waiter struct {
	c     *Client
	ready chan struct{}
}

// NewScheduler shares m; m must outlive it and its clients.
func NewScheduler(m *Model) *Scheduler { return &Scheduler{m: m} }

// Client is one session's handle on the shared model (it implements what
// tracker.New needs). Its model calls come from one goroutine at a time;
// Urgent may be called from any.
type Client struct {
	s      *Scheduler
	urgent int // guarded by s.mu
}

// Client returns a new handle.
func (s *Scheduler) Client() *Client { return &Client{s: s} }

// Urgent puts this client's calls ahead of every non-urgent one until done
// is called, including a call already waiting; while any client is urgent
// no background call starts, so the urgent work (the frame a session is
// busy with, then its prompt) waits at most for the one call running.
func (c *Client) Urgent() (done func()) {
	s := c.s
	s.mu.Lock()
	c.urgent++
	s.urgent++
	for i, w := range s.low {
		if w.c == c {
			s.low = append(s.low[:i], s.low[i+1:]...)
			s.high = append(s.high, w)
			break
		}
	}
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			c.urgent--
			s.urgent--
			if !s.busy {
				s.grant()
			}
			s.mu.Unlock()
		})
	}
}

func (c *Client) acquire(ctx context.Context) error {
	s := c.s
	s.mu.Lock()
	if !s.busy && len(s.high) == 0 && (c.urgent > 0 || (s.urgent == 0 && len(s.low) == 0)) {
		s.busy = true
		s.mu.Unlock()
		return nil
	}
	w := &waiter{c: c, ready: make(chan struct{})}
	if c.urgent > 0 {
		s.high = append(s.high, w)
	} else {
		s.low = append(s.low, w)
	}
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: pass it on
			s.busy = false
			s.grant()
		default:
			s.high = remove(s.high, w)
			s.low = remove(s.low, w)
		}
		return ctx.Err()
	}
}

func remove(q []*waiter, w *waiter) []*waiter {
	for i, x := range q {
		if x == w {
			return append(q[:i], q[i+1:]...)
		}
	}
	return q
}

func (c *Client) release() {
	s := c.s
	s.mu.Lock()
	s.busy = false
	s.grant()
	s.mu.Unlock()
}

// grant hands the model to the next waiter; s.mu held, model free.
func (s *Scheduler) grant() {
	var w *waiter
	switch {
	case len(s.high) > 0:
		w, s.high = s.high[0], s.high[1:]
	case s.urgent == 0 && len(s.low) > 0:
		w, s.low = s.low[0], s.low[1:]
	default:
		return
	}
	s.busy = true
	close(w.ready)
}

// Manifest implements tracker.Model.
func (c *Client) Manifest() *Manifest { return c.s.m.Manifest() }

// Constant implements tracker.Model; constants are immutable, no turn needed.
func (c *Client) Constant(name string) ([]float32, error) { return c.s.m.Constant(name) }

// EncodeImage implements tracker.Model.
func (c *Client) EncodeImage(ctx context.Context, image []float32) (*Features, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.s.m.EncodeImage(ctx, image)
}

// DecodeMasksBatch implements tracker.Model.
func (c *Client) DecodeMasksBatch(ctx context.Context, embeds []float32, f *Features, prompts []Prompt) ([]Candidates, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.s.m.DecodeMasksBatch(ctx, embeds, f, prompts)
}

// DecodeMasksShared implements autoseg.Model: a batch of a grid's
// prompts is one turn.
func (c *Client) DecodeMasksShared(ctx context.Context, imageEmbed []float32, f *Features, prompts []Prompt) ([]Candidates, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.s.m.DecodeMasksShared(ctx, imageEmbed, f, prompts)
}

// AttendMemoryBatch implements tracker.Model.
func (c *Client) AttendMemoryBatch(ctx context.Context, f *Features, objs []ObjectMemory) ([]float32, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	return c.s.m.AttendMemoryBatch(ctx, f, objs)
}

// EncodeMemoryBatch implements tracker.Model.
func (c *Client) EncodeMemoryBatch(ctx context.Context, pixFeat, masksHighRes []float32, binarize []bool, objectScores []float32) ([]float32, []float32, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, nil, err
	}
	defer c.release()
	return c.s.m.EncodeMemoryBatch(ctx, pixFeat, masksHighRes, binarize, objectScores)
}

// Counters reads the shared model's counters (every client's work); it
// waits for no turn.
func (c *Client) Counters() Counters { return c.s.m.Counters() }
