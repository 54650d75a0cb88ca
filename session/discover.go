package session

import (
	"context"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/tracker"
)

// Discovery runs segment-everything on live sessions every so often and
// makes each mask that no tracked object covers a new object: on a
// camera, the objects that come in later are picked up without a click.
// New objects show in the analytics events as any object does
// (appeared, ...). It is bounded: a cap on a session's objects, and
// discovered objects lost for long are dropped.
type Discovery struct {
	// Every is the time between runs; EveryFrames, if set, runs it every
	// that many model frames instead. Neither: discovery is off.
	Every       time.Duration
	EveryFrames int
	// Params are the generator's (autoseg.DefaultParams if zero).
	Params autoseg.Params
	// Overlap: a mask with more than this fraction of its area under
	// tracked objects is theirs (DefaultEverythingOverlap if 0).
	Overlap float64
	// MaxObjects caps a session's objects, prompted ones included
	// (DefaultEverythingObjects if 0).
	MaxObjects int
	// DropAfter: a discovered object not seen for this long is removed
	// from the tracker and its memory (0: kept).
	DropAfter time.Duration
}

// On reports whether discovery runs.
func (d *Discovery) On() bool { return d != nil && (d.Every > 0 || d.EveryFrames > 0) }

// discoverer is a live session's discovery state; model goroutine only.
type discoverer struct {
	cfg    Discovery
	last   time.Time
	frames int               // model frames since the last run
	seen   map[int]time.Time // discovered objects: when last present
	runs   int
}

func newDiscoverer(d *Discovery) *discoverer {
	if !d.On() {
		return nil
	}
	c := *d
	if c.Params.PointsPerSide == 0 {
		c.Params = autoseg.DefaultParams()
	}
	if c.Overlap == 0 {
		c.Overlap = DefaultEverythingOverlap
	}
	if c.MaxObjects == 0 {
		c.MaxObjects = DefaultEverythingObjects
	}
	return &discoverer{cfg: c, seen: map[int]time.Time{}}
}

// due counts a model frame and reports whether a run is due (the first
// frame's always is).
func (d *discoverer) due(now time.Time) bool {
	d.frames++
	switch {
	case d.runs == 0:
		return true
	case d.cfg.EveryFrames > 0:
		return d.frames >= d.cfg.EveryFrames
	}
	return now.Sub(d.last) >= d.cfg.Every
}

// discover runs after the model tracked res: drops discovered objects
// lost for longer than DropAfter and, when a run is due, adds the masks
// of res's frame that no object covers. Model goroutine only.
func (s *Session) discover(ctx context.Context, res *tracker.FrameResult, now time.Time) {
	d := s.disc
	for _, o := range res.Objects {
		if _, ok := d.seen[o.Object]; ok && o.Visible {
			d.seen[o.Object] = now
		}
	}
	if d.cfg.DropAfter > 0 {
		for id, at := range d.seen {
			if now.Sub(at) > d.cfg.DropAfter {
				delete(d.seen, id)
				if err := s.removeObject(id); err != nil {
					s.log.Info("discovery: lost object not dropped", "session", s.ID, "object", id, "err", err)
					continue
				}
				s.log.Info("discovery: lost object dropped", "session", s.ID, "object", id, "lost", now.Sub(at).Round(time.Second))
			}
		}
	}
	if !d.due(now) {
		return
	}
	d.last, d.frames = now, 0
	d.runs++
	s.discoveryRuns.Add(1)
	s.mu.Lock()
	room := d.cfg.MaxObjects - len(s.objects)
	s.mu.Unlock()
	if room <= 0 {
		return
	}
	begin := time.Now()
	masks, _, err := EverythingOf(ctx, s.trk, res.Frame, d.cfg.Params)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Info("discovery failed", "session", s.ID, "frame", res.Frame, "err", err)
		}
		return
	}
	taken := make([]byte, res.Width*res.Height)
	for _, o := range res.Objects {
		if !o.Visible || len(o.Mask) != len(taken) {
			continue
		}
		for i, v := range o.Mask {
			taken[i] |= v
		}
	}
	keep, _, _, err := newMasks(masks, taken, d.cfg.Overlap, room)
	if err != nil {
		s.log.Info("discovery failed", "session", s.ID, "frame", res.Frame, "err", err)
		return
	}
	var added []int
	for _, m := range keep {
		rle := m.RLE
		_, obj, err := s.prompt(ctx, prompt.Prompt{Mask: &rle})
		if err != nil {
			s.log.Info("discovery: mask not added", "session", s.ID, "frame", res.Frame, "err", err)
			break
		}
		d.seen[obj] = now
		added = append(added, obj)
	}
	s.discovered.Add(int64(len(added)))
	if len(added) > 0 {
		s.log.Info("discovery: new objects", "session", s.ID, "frame", res.Frame, "found", len(masks), "objects", added, "took", time.Since(begin).Round(time.Millisecond))
	}
}
