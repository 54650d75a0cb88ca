package session

import (
	"context"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
)

// Spec is what Config.NewTracker is told about a new session.
type Spec struct {
	// ID is the session's ID, the one clients use; a journal stores the
	// session under it (for a resumed session, ResumeID).
	ID string
	// Source is what the session reads: a server path, a URL or a
	// /dev/videoN device, or the temporary copy of an upload.
	Source string
	// Upload reports that Source is an upload, removed with the session.
	Upload bool
	// ResumeID is the stored session being resumed (Manager.Resume,
	// CameraSpec.ResumeID), or "".
	ResumeID string
	// Camera names a camera the operator configured (Manager.OpenCamera),
	// or "".
	Camera string
	// Edit reports an edit session (a file to scrub and track); its
	// Source is then the file's resolved path, what --resume reopens.
	Edit bool
	// Info describes the decoded stream.
	Info decode.Info
}

// ModelTrackers configures cfg to track with the scheduler's model as
// `vidseg serve` does: live sessions with the stream preset (bounded
// memory, few conditioning frames), edit sessions (a file to scrub) with
// the file preset keeping every frame, for passes both ways. Every session
// has its own client of sched, so the sessions share one model and a
// session's prompts go ahead of the others' tracking (Client.Urgent).
// Trackers log to cfg.Logger. tune changes both presets (the
// corrections and hole-filling settings).
func ModelTrackers(cfg Config, sched *sam.Scheduler, mode tracker.Mode, tune ...func(*tracker.Config)) Config {
	cfg.ModelSize = sched.Client().Manifest().ImageSize
	log := cfg.Logger
	cfg.NewTracker = func(_ context.Context, _ Spec) (Tracker, error) {
		c := tracker.StreamPreset(mode)
		for _, f := range tune {
			f(&c)
		}
		c.Logger = log
		client := sched.Client()
		t, err := tracker.New(client, c)
		if err != nil {
			return nil, err
		}
		return &clientTracker{Tracker: t, client: client}, nil
	}
	cfg.NewFileTracker = func(_ context.Context, _ decode.Info, frames int, src tracker.FrameSource) (FileTracker, error) {
		c := tracker.FilePreset(mode)
		for _, f := range tune {
			f(&c)
		}
		// Corrections anywhere and backward passes need every frame's outputs.
		c.KeepAll, c.Source, c.NumFrames, c.Logger = true, src, frames, log
		return tracker.New(sched.Client(), c)
	}
	return cfg
}

// clientTracker is a session's tracker on its client of the shared model:
// Urgent lets its prompts go first; CondFrames (of *tracker.Tracker)
// reports its bounded memory.
type clientTracker struct {
	*tracker.Tracker
	client *sam.Client
}

func (t *clientTracker) Urgent() (done func()) { return t.client.Urgent() }

// spec is what NewTracker is told about a session opened on path (the
// resolved file or device, "" for WHIP) with info.
func (m *Manager) spec(id, path string, info decode.Info, oo openOptions) Spec {
	src := oo.src // what the client named: what --resume reopens
	if src == "" {
		src = path
	}
	if oo.edit && path != "" {
		src = path
	}
	sp := Spec{ID: id, Source: src, Upload: oo.cleanup != nil, ResumeID: oo.resumeID, Edit: oo.edit, Info: info}
	if oo.configured {
		sp.Camera = oo.camera
	}
	return sp
}
