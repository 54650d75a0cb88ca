package web

import (
	"context"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/tracker"
)

// SessionSpec is what Config.NewTracker is told about a new session.
type SessionSpec struct {
	// Source is what the session reads: a server path, a URL or a
	// /dev/videoN device, or the temporary copy of an upload.
	Source string
	// Upload reports that Source is an upload, removed with the session.
	Upload bool
	// ResumeID is the stored session being resumed (Server.Resume), or "".
	ResumeID string
	// Info describes the decoded stream.
	Info decode.Info
}

// ModelTrackers configures cfg to track with m as `vidseg serve` does:
// live sessions with the stream preset (bounded memory, few conditioning
// frames), edit sessions (a file to scrub) with the file preset keeping
// every frame, for passes both ways. The sessions share m: pass a
// *sam.Shared, not a *sam.Model, which is not safe for concurrent use.
// Trackers log to cfg.Logger.
func ModelTrackers(cfg Config, m tracker.Model, mode tracker.Mode) Config {
	cfg.ModelSize = m.Manifest().ImageSize
	log := cfg.Logger
	cfg.NewTracker = func(_ context.Context, _ SessionSpec) (Tracker, error) {
		c := tracker.StreamPreset(mode)
		c.Logger = log
		return tracker.New(m, c)
	}
	cfg.NewFileTracker = func(_ context.Context, _ decode.Info, frames int, src tracker.FrameSource) (FileTracker, error) {
		c := tracker.FilePreset(mode)
		// Corrections anywhere and backward passes need every frame's outputs.
		c.KeepAll, c.Source, c.NumFrames, c.Logger = true, src, frames, log
		return tracker.New(m, c)
	}
	return cfg
}
