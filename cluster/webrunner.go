package cluster

import (
	"context"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/web"
)

// WebRunner runs a worker's cameras as sessions of a web.Server.
type WebRunner struct{ Server *web.Server }

// Start opens the camera as a session of the server.
func (r WebRunner) Start(ctx context.Context, c Camera) (Running, error) {
	ss, err := r.Server.OpenCamera(ctx, web.CameraSpec{Name: c.Name, Source: c.Source, Geometry: c.Geometry})
	if err != nil {
		return nil, err
	}
	return webCamera{srv: r.Server, ss: ss}, nil
}

type webCamera struct {
	srv *web.Server
	ss  *web.Session
}

func (c webCamera) Ended() <-chan struct{} { return c.ss.Ended() }
func (c webCamera) Stop()                  { c.srv.Remove(c.ss.ID) }

// Prompt waits for the model's first frame, as a configured camera's
// prompts do.
func (c webCamera) Prompt(ctx context.Context, p prompt.Prompt) (int, error) {
	return c.ss.PromptWhenReady(ctx, p)
}
