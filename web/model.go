package web

import (
	"context"
	"errors"
	"fmt"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
)

// ModelTrackers configures cfg to track with the exported model in dir:
// every session opens its own *sam.Model (a Model is not safe for
// concurrent use) and a tracker that keeps only bounded memory, as a live
// stream needs (edit sessions get one that keeps every frame, for passes
// both ways). The returned Config has NewTracker, NewFileTracker,
// ModelSize and ModelName set; rt must outlive the Server.
func ModelTrackers(cfg Config, rt *sam.Runtime, dir string, opts sam.Options, tcfg tracker.Config) (Config, error) {
	man, err := sam.LoadManifest(dir)
	if err != nil {
		return cfg, fmt.Errorf("web: model %s: %w", dir, err)
	}
	cfg.ModelSize = man.ImageSize
	if cfg.ModelName == "" {
		cfg.ModelName = dir
	}
	fcfg := tcfg
	tcfg.KeepAll = false
	tcfg.Source = nil
	cfg.NewFileTracker = func(ctx context.Context, info decode.Info, frames int, src tracker.FrameSource) (FileTracker, error) {
		m, err := sam.Open(rt, dir, opts)
		if err != nil {
			return nil, err
		}
		c := fcfg
		// Files: corrections anywhere and backward passes need every
		// frame's outputs.
		c.KeepAll, c.Source, c.NumFrames = true, src, frames
		t, err := tracker.New(m, c)
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		return &modelTracker{Tracker: t, m: m}, nil
	}
	cfg.NewTracker = func(ctx context.Context, info decode.Info) (Tracker, error) {
		m, err := sam.Open(rt, dir, opts)
		if err != nil {
			return nil, err
		}
		c := tcfg
		if !info.Live {
			c.NumFrames = 0 // files loop: indices keep growing past the length
		}
		t, err := tracker.New(m, c)
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		return &modelTracker{Tracker: t, m: m}, nil
	}
	return cfg, nil
}

// modelTracker closes its model with the session.
type modelTracker struct {
	*tracker.Tracker
	m *sam.Model
}

func (t *modelTracker) Close() error { return t.m.Close() }
