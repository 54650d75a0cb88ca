// Package journal records the app's sessions (package session) in the
// session store as they happen, by wrapping each session's tracker, and
// replays a stored session's prompts when it is resumed.
package journal

import (
	"context"
	"fmt"
	"github.com/vidseg/vidseg/autoseg"
	"log/slog"
	"sort"
	"sync"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// journaled records a session in the store as it happens: each
// accepted prompt, and each finished frame's masks as COCO RLE, in its own
// fsync'd transaction before the call returns, so a crash loses neither.
//
// A resumed session replays its stored prompts: when tracking reaches a
// prompt's frame, the prompt is applied right after that frame is tracked,
// as it was when the user clicked on it.
type journaled struct {
	record
	inner session.Tracker

	mu     sync.Mutex
	replay []store.Prompt // stored prompts not yet replayed, by frame
}

func newJournaled(inner session.Tracker, st *store.Store, id string, replay []store.Prompt, log *slog.Logger) *journaled {
	replay = append([]store.Prompt(nil), replay...)
	sort.SliceStable(replay, func(i, j int) bool { return replay[i].Frame < replay[j].Frame })
	return &journaled{record: record{st: st, id: id, log: log}, inner: inner, replay: replay}
}

// Close closes the inner tracker (what it holds of the model's features).
func (j *journaled) Close() error { return session.CloseTracker(j.inner) }

func (j *journaled) Track(ctx context.Context, f *video.Frame) (*tracker.FrameResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	res, err := j.inner.Track(ctx, f)
	if err != nil {
		return nil, err
	}
	// Replay stored prompts on this frame (or on frames the stream
	// skipped past: the live decoder drops frames the model cannot keep up with).
	for len(j.replay) > 0 && j.replay[0].Frame <= f.Index {
		sp := j.replay[0]
		j.replay = j.replay[1:]
		p := sp.Prompt
		p.Frame = f.Index
		r, err := j.inner.Prompt(ctx, p)
		if err != nil {
			j.log.Warn("serve: stored prompt not replayed", "session", j.id, "seq", sp.Seq, "err", err)
			continue
		}
		res = r
	}
	if err := j.st.PutFrame(j.id, j.frame(res)); err != nil {
		return nil, fmt.Errorf("journal frame %d: %w", res.Frame, err)
	}
	return res, nil
}

func (j *journaled) Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	res, err := j.inner.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := j.st.AddPrompt(j.id, store.Prompt{Prompt: p}); err != nil {
		// The tracker took the prompt but it is not durable: say so
		// rather than let the user believe it will survive a restart.
		return nil, fmt.Errorf("journal prompt: %w", err)
	}
	// The prompt's frame was stored when it was tracked, before the
	// prompt: store it again with the mask the client was just given.
	if err := j.st.PutFrame(j.id, j.frame(res)); err != nil {
		return nil, fmt.Errorf("journal frame %d: %w", res.Frame, err)
	}
	return res, nil
}

func (j *journaled) RemoveObject(id int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.inner.RemoveObject(id); err != nil {
		return err
	}
	kept := j.replay[:0]
	for _, p := range j.replay {
		if p.Object != id {
			kept = append(kept, p)
		}
	}
	j.replay = kept
	return j.st.RemoveObject(j.id, id)
}

// frame converts a result to the store's form.
func (j *journaled) frame(res *tracker.FrameResult) store.Frame {
	out := store.Frame{Index: res.Frame, Objects: []store.FrameObject{}}
	for _, o := range res.Objects {
		fo := store.FrameObject{Object: o.Object, Mask: o.RLE, IoU: o.IoU, ObjectScore: o.ObjectScore, Present: o.Present()}
		if o.RLE.Area() > 0 {
			box := o.Box
			fo.Box = &box
		}
		out.Objects = append(out.Objects, fo)
	}
	return out
}

// Urgent passes the inner tracker's prompt priority on a shared model
// through (sessions take it before a prompt); a no-op without one.
func (j *journaled) Urgent() (done func()) { return session.UrgentOf(j.inner) }

// CondFrames passes the inner tracker's conditioning-frame counts through;
// nil when it keeps none.
func (j *journaled) CondFrames() map[int]int { return session.CondFramesOf(j.inner) }

// replayPrompts prepares stored prompts for a resumed session. A live
// source restarts its frame count, so its prompts are replayed on the
// first frame tracked, in the order they were given (a fixed camera sees
// the same scene); a file replays each on its own frame.
func replayPrompts(ps []store.Prompt, info decode.Info) []store.Prompt {
	if !info.Live {
		return ps
	}
	out := append([]store.Prompt(nil), ps...)
	for i := range out {
		out[i].Frame = 0
	}
	return out
}

// Settings are what a stored session records of how it is tracked; a
// session is resumed only under the same ones.
type Settings struct {
	Mode  string // tracker mode, "samurai" or "sam2"
	Model string // model variant and directory
}

// same refuses to resume a session under other settings: its stored masks
// and the replayed prompts' results would not belong together. Sessions
// stored before mode and model were recorded pass.
func (s Settings) same(info store.Info) error {
	if info.Mode != "" && info.Mode != s.Mode {
		return fmt.Errorf("session %s was tracked in mode %s, not %s: resume it with --mode %s", info.ID, info.Mode, s.Mode, info.Mode)
	}
	if info.Model != "" && info.Model != s.Model {
		return fmt.Errorf("session %s was tracked with model %s, not %s", info.ID, info.Model, s.Model)
	}
	return nil
}

// Trackers wraps newTracker so that every session's tracker is journaled
// in st. A new session gets a new stored session (an upload is recorded as
// "upload": its file goes with the session) under the session's ID
// (SessionSpec.ID), recording set; a resumed one (SessionSpec.ResumeID)
// adopts its stored session and replays its prompts, if set matches.
// The stored session of a configured camera (SessionSpec.Camera) is
// tagged with its name (Meta "camera"). Warnings (prompts that cannot be replayed) go to log.
func Trackers(st *store.Store, log *slog.Logger, set Settings, newTracker func(context.Context, session.Spec) (session.Tracker, error)) func(context.Context, session.Spec) (session.Tracker, error) {
	return func(ctx context.Context, spec session.Spec) (session.Tracker, error) {
		var sess *store.Session
		if spec.ResumeID != "" {
			var err error
			if sess, err = st.Session(spec.ResumeID); err != nil {
				return nil, err
			}
			if err := set.same(sess.Info); err != nil {
				return nil, err
			}
			// A prompt stored before the limits (or written into the
			// store by hand) is refused here, not replayed into the model.
			for _, sp := range sess.Prompts {
				if err := sp.Check(spec.Info.Width, spec.Info.Height); err != nil {
					return nil, fmt.Errorf("session %s: stored prompt %d (object %d, frame %d) cannot be replayed: %w; export the session (vidseg sessions export) or delete it",
						spec.ResumeID, sp.Seq, sp.Object, sp.Frame, err)
				}
			}
		}
		t, err := newTracker(ctx, spec)
		if err != nil {
			return nil, err
		}
		if sess != nil {
			return newJournaled(t, st, spec.ResumeID, replayPrompts(sess.Prompts, spec.Info), log), nil
		}
		src := spec.Source
		if spec.Upload {
			src = "upload"
		}
		info := spec.Info
		var meta map[string]string
		if spec.Camera != "" {
			// Tags a configured camera's session, found again by name.
			meta = map[string]string{"camera": spec.Camera}
		}
		si, err := st.CreateSession(store.Info{
			ID:   spec.ID, // one ID in the server and the store
			Mode: set.Mode, Model: set.Model,
			Source: src, Width: info.Width, Height: info.Height, FPS: info.FPS, Frames: info.Frames,
			Meta: meta,
		})
		if err != nil {
			_ = session.CloseTracker(t)
			return nil, err
		}
		return newJournaled(t, st, si.ID, nil, log), nil
	}
}

// Everything passes segment-everything through; the masks it finds come
// back as prompts, journaled as such.
func (j *journaled) Everything(ctx context.Context, frame int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error) {
	return session.EverythingOf(ctx, j.inner, frame, p)
}
