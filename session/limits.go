package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vidseg/vidseg/tracker"
)

// Defaults for the session bounds (Config.MaxSessions, PauseAfter,
// IdleTimeout).
const (
	DefaultMaxSessions = 8
	DefaultPauseAfter  = 10 * time.Second
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultPromptTimeout bounds one prompt's model time: a click takes
	// a fraction of a second of the model (seconds on a slow CPU), a
	// prompt that takes longer is refused rather than stall the model
	// every session shares.
	DefaultPromptTimeout = 30 * time.Second
	// DefaultPromptBudget is the model time a session's prompts may take
	// per minute: a user clicking every second on a slow CPU stays well
	// inside it; a client that prompts without pause is held to a third
	// of the model.
	DefaultPromptBudget = 20 * time.Second
)

// promptBudget counts the model time a session's prompts take against a
// budget per minute, refilled as time passes (a token bucket holding at
// most one minute's budget). A prompt starts only while some is left; one
// prompt may overdraw it, up to its timeout.
type promptBudget struct {
	perMinute time.Duration // <= 0: no budget
	timeout   time.Duration // <= 0: no timeout

	mu   sync.Mutex
	left time.Duration
	at   time.Time
	used time.Duration // all model time spent on prompts
}

func newPromptBudget(perMinute, timeout time.Duration) *promptBudget {
	return &promptBudget{perMinute: perMinute, timeout: timeout, left: perMinute, at: time.Now()}
}

// refill adds what the time since the last call earned; b.mu held.
func (b *promptBudget) refill(now time.Time) {
	earned := time.Duration(float64(b.perMinute) * now.Sub(b.at).Seconds() / 60)
	b.left = min(b.left+earned, b.perMinute)
	b.at = now
}

// check refuses a prompt while the session's budget is spent.
func (b *promptBudget) check(session string) error {
	if b.perMinute <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	if b.left > 0 {
		return nil
	}
	wait := time.Duration(float64(-b.left+time.Millisecond) / float64(b.perMinute) * float64(time.Minute))
	return &kindError{ErrTooMany, fmt.Errorf("session %s has spent its model time for prompts (%v a minute); try again in %v",
		session, b.perMinute, wait.Round(100*time.Millisecond)+100*time.Millisecond)}
}

func (b *promptBudget) spend(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	b.left -= d
	b.used += d
}

// Used is the model time the session's prompts took so far.
func (b *promptBudget) Used() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// modelPrompt runs one prompt on the model within the prompt timeout and
// counts its time against the session's budget.
func (s *Session) modelPrompt(ctx context.Context, run func(context.Context) (*tracker.FrameResult, error)) (*tracker.FrameResult, error) {
	b := s.promptBudget
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, b.timeout, errPromptTimeout)
		defer cancel()
	}
	start := time.Now()
	res, err := run(ctx)
	b.spend(time.Since(start))
	if err != nil && errors.Is(context.Cause(ctx), errPromptTimeout) {
		return nil, fmt.Errorf("prompt: the model took longer than %v on it: %w", b.timeout, context.DeadlineExceeded)
	}
	return res, err
}

var errPromptTimeout = errors.New("prompt timeout")

// urgent is what a tracker sharing a model offers (sam.Client): while a
// prompt waits, its model calls go ahead of other sessions' tracking.
type urgent interface {
	Urgent() (done func())
}

// condFramer is a tracker that bounds its memory (*tracker.Tracker).
type condFramer interface {
	CondFrames() map[int]int
}

// UrgentOf gives t's prompts priority on a shared model until done is
// called; a no-op for a tracker without one. Trackers that wrap another
// (the journal, a cluster camera) pass it through with it.
func UrgentOf(t Tracker) (done func()) {
	if u, ok := t.(urgent); ok {
		return u.Urgent()
	}
	return func() {}
}

// CondFramesOf is t's conditioning-frame count per object; nil when it
// keeps none. Wrapping trackers pass it through with it.
func CondFramesOf(t Tracker) map[int]int {
	if c, ok := t.(condFramer); ok {
		return c.CondFrames()
	}
	return nil
}

// noteCondFrames records the tracker's conditioning-frame count for the
// API; called on the model goroutine, the tracker's only user.
func (s *Session) noteCondFrames() {
	cf, ok := s.trk.(condFramer)
	if !ok {
		return
	}
	most := 0
	for _, n := range cf.CondFrames() {
		most = max(most, n)
	}
	s.condFrames.Store(int64(most))
}

// Reserve takes a session slot before a (slow) open, so concurrent
// opens cannot pass the cap together; release gives it back once the
// session is open or has failed to.
func (m *Manager) Reserve() (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if max := m.cfg.MaxSessions; max > 0 && len(m.sessions)+m.opening >= max {
		return nil, &kindError{ErrTooMany, fmt.Errorf("too many sessions: this server runs at most %d at once (vidseg serve --max-sessions); close one or try again later", max)}
	}
	m.opening++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.opening--
			m.mu.Unlock()
		})
	}, nil
}

// reap ends sessions nobody has watched or prompted for IdleTimeout.
func (m *Manager) reap() {
	defer close(m.reaped)
	if m.cfg.IdleTimeout <= 0 {
		<-m.ctx.Done()
		return
	}
	tick := time.NewTicker(min(m.cfg.IdleTimeout/4, 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-tick.C:
			for _, info := range m.List() {
				ss, ok := m.Get(info.ID)
				if ok && !ss.unattended && info.Viewers == 0 && now.Sub(ss.lastActive()) > m.cfg.IdleTimeout {
					m.cfg.Logger.Info("session idle, closing", "session", ss.ID, "idle", m.cfg.IdleTimeout)
					m.Remove(ss.ID)
				}
			}
		}
	}
}

// Remove ends a session and waits for its pipeline; false if there is
// none with id.
func (m *Manager) Remove(id string) bool {
	m.mu.Lock()
	ss, ok := m.sessions[id]
	delete(m.sessions, id)
	m.mu.Unlock()
	if ok {
		ss.cancel()
		<-ss.done
	}
	return ok
}

// touch marks the session used now (a viewer, a prompt).
func (s *Session) touch() { s.active.Store(time.Now().UnixNano()) }

func (s *Session) lastActive() time.Time { return time.Unix(0, s.active.Load()) }

// pauseWhileUnwatched stops decoding (and so the model) once nobody has
// watched for pauseAfter, until a viewer arrives or ctx ends. It reports
// whether it paused, so the caller re-anchors its pacing.
func (s *Session) pauseWhileUnwatched(ctx context.Context, pauseAfter time.Duration) bool {
	if pauseAfter <= 0 || s.unattended || s.dec == nil || time.Since(s.lastActive()) < pauseAfter {
		return false
	}
	s.setState("paused")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for s.viewers() == 0 {
		select {
		case <-ctx.Done():
			return true
		case <-tick.C:
		}
	}
	s.touch()
	s.setState("playing")
	s.dec.RestartClock()
	return true
}
