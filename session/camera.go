package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/prompt"
)

// CameraSpec describes a camera the operator configured (not a client):
// a named source, looped when it is a file, with optional zones and lines.
type CameraSpec struct {
	Name     string
	Source   string
	Geometry *events.Geometry
	// ResumeID is the camera's stored session to resume, or "".
	ResumeID string
}

// OpenCamera starts a session for a configured camera. The source is
// checked against the source policy like a client's (URLs need
// AllowURLs, private addresses AllowPrivateURLs) and counts toward the
// session cap; it runs without viewers (never paused or reaped).
func (m *Manager) OpenCamera(ctx context.Context, c CameraSpec) (*Session, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("%w: camera has no name", ErrInvalid)
	}
	m.reserveCamera(c.Name)
	return m.openSource(ctx, c.Source, openOptions{loop: true, camera: c.Name, geo: c.Geometry, unattended: true, configured: true, resumeID: c.ResumeID})
}

// Configured reports whether the session is a camera the operator
// configured (OpenCamera), not a client's.
func (ss *Session) Configured() bool { return ss.configured }

// Ended is closed when the session's source has ended for good (finished,
// lost, or failed); State says which.
func (ss *Session) Ended() <-chan struct{} { return ss.ended }

// Done is closed when the session's pipeline has stopped (Remove, or
// the manager closing) and everything it held is freed.
func (ss *Session) Done() <-chan struct{} { return ss.done }

// State is "playing", "reconnecting", "ended", "lost: ..." or "error: ...".
func (ss *Session) State() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.state
}

// IsNotReady reports an error that goes away by itself: the model has not
// finished a frame yet.
func IsNotReady(err error) bool { return errors.Is(err, ErrNotReady) }

// PromptWhenReady is Prompt for a configured camera's prompts (from its
// file, from a cluster's front end): it waits, while ctx lasts, for the
// model's first frame where Prompt would say it is not ready.
func (ss *Session) PromptWhenReady(ctx context.Context, p prompt.Prompt) (int, error) {
	for {
		obj, _, err := ss.Prompt(ctx, p)
		if err == nil || !IsNotReady(err) {
			return obj, err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
