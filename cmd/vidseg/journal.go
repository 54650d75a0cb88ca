package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

// journaledTracker records a session in the store as it happens: each
// accepted prompt, and each finished frame's masks as COCO RLE, in its own
// fsync'd transaction before the call returns, so a crash loses neither.
//
// A resumed session replays its stored prompts: when tracking reaches a
// prompt's frame, the prompt is applied right after that frame is tracked,
// as it was when the user clicked on it.
type journaledTracker struct {
	inner    web.Tracker
	st       *store.Store
	id       string
	maskSize int
	log      *slog.Logger

	mu     sync.Mutex
	replay []store.Prompt // stored prompts not yet replayed, by frame
	bin    []byte
}

func newJournaledTracker(inner web.Tracker, st *store.Store, id string, maskSize int, replay []store.Prompt, log *slog.Logger) *journaledTracker {
	replay = append([]store.Prompt(nil), replay...)
	sort.SliceStable(replay, func(i, j int) bool { return replay[i].Frame < replay[j].Frame })
	return &journaledTracker{inner: inner, st: st, id: id, maskSize: maskSize, replay: replay, log: log}
}

func (j *journaledTracker) Track(ctx context.Context, f *decode.Frame) (*tracker.FrameResult, error) {
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
		p, err := fromStorePrompt(sp, f.Index, f.Width, f.Height)
		if err != nil {
			j.log.Warn("serve: stored prompt not replayed", "session", j.id, "seq", sp.Seq, "err", err)
			continue
		}
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

func (j *journaledTracker) Prompt(ctx context.Context, p tracker.Prompt) (*tracker.FrameResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	res, err := j.inner.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	sp, err := toStorePrompt(p, res.Width, res.Height)
	if err == nil {
		_, err = j.st.AddPrompt(j.id, sp)
	}
	if err != nil {
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

func (j *journaledTracker) RemoveObject(id int) error {
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

// frame converts a result to the store's form: each object's mask at the
// source resolution, COCO RLE encoded.
func (j *journaledTracker) frame(res *tracker.FrameResult) store.Frame {
	out := store.Frame{Index: res.Frame, Objects: []store.FrameObject{}}
	n := res.Width * res.Height
	if len(j.bin) != n {
		j.bin = make([]byte, n)
	}
	for _, o := range res.Objects {
		fo := store.FrameObject{Object: o.Object, IoU: o.IoU, ObjectScore: o.ObjectScore, Present: o.Present()}
		if len(o.Logits) == j.maskSize*j.maskSize {
			sam.MaskToSource(o.Logits, j.maskSize, res.Width, res.Height, j.bin)
			if rle, err := mask.EncodeRLE(j.bin, res.Width, res.Height); err == nil {
				fo.Mask = store.RLE{Size: [2]int{rle.Height, rle.Width}, Counts: rle.String()}
				if b := rle.BBox(); !b.Empty() {
					fo.Box = &store.Box{X0: float32(b.Min.X), Y0: float32(b.Min.Y), X1: float32(b.Max.X), Y1: float32(b.Max.Y)}
				}
			}
		}
		out.Objects = append(out.Objects, fo)
	}
	return out
}

func toStorePrompt(p tracker.Prompt, w, h int) (store.Prompt, error) {
	sp := store.Prompt{Frame: p.Frame, Object: p.Object}
	for _, pt := range p.Points {
		sp.Points = append(sp.Points, store.Point{X: pt.X, Y: pt.Y, Positive: pt.Positive})
	}
	if b := p.Box; b != nil {
		sp.Box = &store.Box{X0: b.X0, Y0: b.Y0, X1: b.X1, Y1: b.Y1}
	}
	if p.Mask != nil {
		rle, err := mask.EncodeRLE(p.Mask, w, h)
		if err != nil {
			return store.Prompt{}, err
		}
		sp.Mask = &store.RLE{Size: [2]int{rle.Height, rle.Width}, Counts: rle.String()}
	}
	return sp, nil
}

// fromStorePrompt rebuilds a tracker prompt, placed on frame.
func fromStorePrompt(sp store.Prompt, frame, w, h int) (tracker.Prompt, error) {
	p := tracker.Prompt{Frame: frame, Object: sp.Object}
	for _, pt := range sp.Points {
		p.Points = append(p.Points, tracker.Point{X: pt.X, Y: pt.Y, Positive: pt.Positive})
	}
	if b := sp.Box; b != nil {
		p.Box = &tracker.Box{X0: b.X0, Y0: b.Y0, X1: b.X1, Y1: b.Y1}
	}
	if sp.Mask != nil {
		if sp.Mask.Size != [2]int{h, w} {
			return p, fmt.Errorf("mask prompt is %dx%d, the video %dx%d", sp.Mask.Size[1], sp.Mask.Size[0], w, h)
		}
		rle, err := mask.ParseRLE(sp.Mask.Counts, w, h)
		if err != nil {
			return p, err
		}
		if p.Mask, err = rle.Decode(); err != nil {
			return p, err
		}
	}
	return p, nil
}
