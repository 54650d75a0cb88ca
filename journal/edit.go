package journal

import (
	"context"
	"encoding/json"
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
// accepted prompt, each frame a pass tracks (its masks as COCO RLE), the
// undo history and the zones, each in its own fsync'd transaction before
// the call returns. The stored frames are the ones the page shows: a
// prompt makes the others stale (the next pass redoes them), in the same
// transaction, so a resume shows them stale too.
type fileJournal struct {
	record
	inner  session.FileTracker
	width  int // the video's size, to check a stored history's prompts
	height int

	mu       sync.Mutex // orders the store writes as the tracker calls
	restored session.Restored
}

func (j *fileJournal) Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	res, err := j.inner.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := j.st.AddEditPrompt(j.id, store.Prompt{Prompt: p}, storeFrame(res)); err != nil {
		return nil, fmt.Errorf("journal prompt: %w", err)
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
func (j *fileJournal) Close() error { return session.CloseTracker(j.inner) }

// Restored implements session.Restorer: what a resumed session had
// (its frames, stale ones marked, prompts and undo history); empty for
// a new one.
func (j *fileJournal) Restored() session.Restored { return j.restored }

// SaveHistory implements session.HistoryJournal.
func (j *fileJournal) SaveHistory(h session.EditHistory) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return j.st.PutHistory(j.id, raw)
}

// history reads the stored undo history; nil when there is none or it
// cannot be used (a warning says why: undo then starts from the
// prompts). Its prompts pass the limits a new prompt does: a redo
// applies them.
func (j *fileJournal) history() *session.EditHistory {
	raw, ok, err := j.st.History(j.id)
	if err != nil || !ok {
		if err != nil {
			j.log.Warn("serve: stored undo history not read", "session", j.id, "err", err)
		}
		return nil
	}
	var h session.EditHistory
	if err := json.Unmarshal(raw, &h); err != nil {
		j.log.Warn("serve: stored undo history not read", "session", j.id, "err", err)
		return nil
	}
	for _, ops := range [][]session.EditOp{h.Undo, h.Redo} {
		for _, op := range ops {
			for _, p := range op.Prompts {
				if err := p.Check(j.width, j.height); err != nil {
					j.log.Warn("serve: stored undo history not used", "session", j.id, "err", err)
					return nil
				}
			}
		}
	}
	return &h
}

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
// (a file's frames do not change), and shows its stored frames again
// (the stale ones marked stale), its zones and its undo history.
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
			return &fileJournal{record: record{st: st, id: si.ID, log: log}, inner: t, width: info.Width, height: info.Height}, nil
		}
		sess, err := st.Session(spec.ResumeID)
		if err != nil {
			return nil, err
		}
		if err := set.same(sess.Info); err != nil {
			return nil, err
		}
		j := &fileJournal{record: record{st: st, id: spec.ResumeID, log: log}, inner: t, width: spec.Info.Width, height: spec.Info.Height}
		rs := &j.restored
		ps := append([]store.Prompt(nil), sess.Prompts...)
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].Seq < ps[b].Seq })
		seen := map[session.PromptFrame]bool{}
		for _, sp := range ps {
			if _, err := t.Prompt(ctx, sp.Prompt); err != nil {
				log.Warn("serve: stored prompt not replayed", "session", j.id, "seq", sp.Seq, "err", err)
				continue
			}
			rs.Applied = append(rs.Applied, sp.Prompt)
			pf := session.PromptFrame{Object: sp.Object, Frame: sp.Frame}
			if !seen[pf] {
				seen[pf] = true
				rs.Prompts = append(rs.Prompts, pf)
			}
		}
		err = st.Frames(spec.ResumeID, func(f *store.Frame) error {
			res, err := resultOf(f)
			if err != nil {
				return err
			}
			rs.Frames = append(rs.Frames, res)
			if f.Stale {
				rs.Stale = append(rs.Stale, f.Index)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", spec.ResumeID, err)
		}
		rs.History = j.history()
		return j, nil
	}
}

// Everything passes segment-everything through (session.Segmenter).
func (j *fileJournal) Everything(ctx context.Context, frame int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error) {
	return session.EverythingOf(ctx, j.inner, frame, p)
}
