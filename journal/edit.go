package journal

import (
	"context"
	"fmt"
	"github.com/vidseg/vidseg/autoseg"
	"log/slog"
	"sort"
	"sync"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
)

// MetaEdit marks a stored session as an edit session (a file scrubbed and
// tracked in passes): --resume reopens it as one.
const MetaEdit = "edit"

// fileJournal records an edit session in the store as it happens: each
// accepted prompt, and each frame a pass tracks (its masks as COCO RLE),
// each in its own fsync'd transaction before the call returns. The stored
// frames are the ones the page shows: a prompt makes the next pass redo
// the others, so they are cleared then.
type fileJournal struct {
	inner session.FileTracker
	st    *store.Store
	id    string

	mu       sync.Mutex // orders the store writes as the tracker calls
	restored []*tracker.FrameResult
	prompts  []session.PromptFrame
	history  []prompt.Prompt // the replayed prompts, in order
}

func (j *fileJournal) Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	res, err := j.inner.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := j.st.AddPrompt(j.id, store.Prompt{Prompt: p}); err != nil {
		return nil, fmt.Errorf("journal prompt: %w", err)
	}
	if err := j.st.ClearFrames(j.id, res.Frame); err != nil {
		return nil, fmt.Errorf("journal prompt: %w", err)
	}
	if err := j.st.PutFrame(j.id, storeFrame(res)); err != nil {
		return nil, fmt.Errorf("journal frame %d: %w", res.Frame, err)
	}
	return res, nil
}

func (j *fileJournal) RemoveObject(id int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.inner.RemoveObject(id); err != nil {
		return err
	}
	return j.st.RemoveObject(j.id, id)
}

func (j *fileJournal) Propagate(ctx context.Context, opts tracker.PropagateOptions, fn func(*tracker.FrameResult) error) error {
	return j.inner.Propagate(ctx, opts, func(res *tracker.FrameResult) error {
		j.mu.Lock()
		err := j.st.PutFrame(j.id, storeFrame(res))
		j.mu.Unlock()
		if err != nil {
			return fmt.Errorf("journal frame %d: %w", res.Frame, err)
		}
		return fn(res)
	})
}

// Close closes the inner tracker (the editor closes what it holds).
func (j *fileJournal) Close() error {
	if c, ok := j.inner.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// Restored implements session.Restorer: a resumed session's stored
// frames and conditioning frames; nil for a new one.
func (j *fileJournal) Restored() ([]*tracker.FrameResult, []session.PromptFrame) {
	return j.restored, j.prompts
}

// History returns a resumed session's replayed prompts in their order,
// so the page can undo them after a restart.
func (j *fileJournal) History() []prompt.Prompt { return j.history }

// storeFrame converts a result to the store's form.
func storeFrame(res *tracker.FrameResult) store.Frame {
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

// resultOf converts a stored frame back to a tracker result.
func resultOf(f *store.Frame) (*tracker.FrameResult, error) {
	res := &tracker.FrameResult{Frame: f.Index}
	for _, o := range f.Objects {
		m, err := o.Mask.Decode()
		if err != nil {
			return nil, fmt.Errorf("frame %d object %d: %w", f.Index, o.Object, err)
		}
		or := tracker.ObjectResult{Object: o.Object, Mask: m, RLE: o.Mask, IoU: o.IoU, ObjectScore: o.ObjectScore, Visible: o.Present}
		if o.Box != nil {
			or.Box = *o.Box
		}
		res.Width, res.Height = o.Mask.Width, o.Mask.Height
		res.Objects = append(res.Objects, or)
	}
	return res, nil
}

// FileTrackers returns what session.Config.JournalFile wants: every edit
// session is journaled in st under its ID, tagged MetaEdit, with its
// file's path as Source; a resumed one (Spec.ResumeID) has its stored
// prompts replayed into the tracker in their order, each on its own frame
// (a file's frames do not change), and shows its stored frames again.
func FileTrackers(st *store.Store, log *slog.Logger, set Settings) func(context.Context, session.Spec, session.FileTracker) (session.FileTracker, error) {
	return func(ctx context.Context, spec session.Spec, t session.FileTracker) (session.FileTracker, error) {
		if spec.ResumeID == "" {
			src := spec.Source
			if spec.Upload {
				src = "upload"
			}
			info := spec.Info
			si, err := st.CreateSession(store.Info{
				ID: spec.ID, Mode: set.Mode, Model: set.Model,
				Source: src, Width: info.Width, Height: info.Height, FPS: info.FPS, Frames: info.Frames,
				Meta: map[string]string{MetaEdit: "1"},
			})
			if err != nil {
				return nil, err
			}
			return &fileJournal{inner: t, st: st, id: si.ID}, nil
		}
		sess, err := st.Session(spec.ResumeID)
		if err != nil {
			return nil, err
		}
		if err := set.same(sess.Info); err != nil {
			return nil, err
		}
		j := &fileJournal{inner: t, st: st, id: spec.ResumeID}
		ps := append([]store.Prompt(nil), sess.Prompts...)
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].Seq < ps[b].Seq })
		seen := map[session.PromptFrame]bool{}
		for _, sp := range ps {
			if _, err := t.Prompt(ctx, sp.Prompt); err != nil {
				log.Warn("serve: stored prompt not replayed", "session", j.id, "seq", sp.Seq, "err", err)
				continue
			}
			j.history = append(j.history, sp.Prompt)
			pf := session.PromptFrame{Object: sp.Object, Frame: sp.Frame}
			if !seen[pf] {
				seen[pf] = true
				j.prompts = append(j.prompts, pf)
			}
		}
		err = st.Frames(spec.ResumeID, func(f *store.Frame) error {
			res, err := resultOf(f)
			if err != nil {
				return err
			}
			j.restored = append(j.restored, res)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", spec.ResumeID, err)
		}
		return j, nil
	}
}

// Everything passes segment-everything through (session.Segmenter).
func (j *fileJournal) Everything(ctx context.Context, frame int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error) {
	return session.EverythingOf(ctx, j.inner, frame, p)
}
