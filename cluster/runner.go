package cluster

import (
	"context"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
)

// SessionRunner runs a worker's cameras as sessions of a session
// manager: no HTTP server, the sessions are reached through the bus.
type SessionRunner struct{ Sessions *session.Manager }

// Start opens the camera as a session of the manager.
func (r SessionRunner) Start(ctx context.Context, c Camera) (Running, error) {
	ss, err := r.Sessions.OpenCamera(ctx, session.CameraSpec{Name: c.Name, Source: c.Source, Geometry: c.Geometry})
	if err != nil {
		return nil, err
	}
	return sessionCamera{m: r.Sessions, ss: ss}, nil
}

type sessionCamera struct {
	m  *session.Manager
	ss *session.Session
}

func (c sessionCamera) Ended() <-chan struct{} { return c.ss.Ended() }
func (c sessionCamera) Stop()                  { c.m.Remove(c.ss.ID) }

// Prompt waits for the model's first frame, as a configured camera's
// prompts do.
func (c sessionCamera) Prompt(ctx context.Context, p prompt.Prompt) (int, error) {
	return c.ss.PromptWhenReady(ctx, p)
}
