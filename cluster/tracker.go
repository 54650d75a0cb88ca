package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// Result is one tracked frame of a camera as published on
// vidseg.<camera>.results.
type Result struct {
	Camera  string         `json:"camera"`
	Worker  string         `json:"worker"`
	Frame   int            `json:"frame"`
	Wall    time.Time      `json:"wall"`
	Width   int            `json:"width"`
	Height  int            `json:"height"`
	Objects []ResultObject `json:"objects"`
}

// ResultObject is one object's mask and scores on a frame.
type ResultObject struct {
	Object  int        `json:"object"`
	Score   float32    `json:"score"`
	IoU     float32    `json:"iou"`
	Present bool       `json:"present"`
	Box     [4]float32 `json:"box"`
	Mask    mask.RLE   `json:"mask"`
}

// Trackers wraps newTracker for a worker: the tracker of a camera session
// (SessionSpec.Camera) replays the camera's journal (the configured
// prompts of a new camera, else every prompt it was given) on the first
// frame tracked, since the memory bank itself is not persisted; on a live
// camera an object seen on the previous worker's last frame is prompted
// with its last mask instead (withLastMasks). It journals each
// new prompt and zone change in the journal bucket, publishes each
// tracked frame on vidseg.<camera>.results, and numbers events after the
// last one stored (pub.Resume). Sessions of no camera are not wrapped.
func Trackers(bus *Bus, pub *EventPublisher, worker string, log *slog.Logger, newTracker func(context.Context, session.Spec) (session.Tracker, error)) func(context.Context, session.Spec) (session.Tracker, error) {
	return func(ctx context.Context, spec session.Spec) (session.Tracker, error) {
		if spec.Camera == "" {
			return newTracker(ctx, spec)
		}
		name := spec.Camera
		cam, err := bus.Camera(ctx, name)
		if err != nil {
			return nil, err
		}
		j, rev, err := bus.journal(ctx, name)
		if err != nil {
			return nil, err
		}
		if j == nil {
			j = &Journal{Prompts: []prompt.Prompt{}}
			for i, p := range cam.Prompts {
				p.Object, p.Frame = i+1, 0
				j.Prompts = append(j.Prompts, p)
			}
			data, _ := json.Marshal(j)
			if rev, err = bus.Journal.Create(ctx, name, data); err != nil {
				return nil, fmt.Errorf("journal %s: %w", name, err)
			}
		}
		geo := cam.Geometry
		if j.Geometry != nil {
			geo = j.Geometry
		}
		next, err := pub.Resume(ctx, name)
		if err != nil {
			return nil, err
		}
		replay := append([]prompt.Prompt(nil), j.Prompts...)
		if spec.Info.Live {
			replay = withLastMasks(ctx, bus, name, replay, spec.Info.Width, spec.Info.Height)
		}
		inner, err := newTracker(ctx, spec)
		if err != nil {
			pub.Stop(name)
			return nil, err
		}
		t := &camTracker{inner: inner, bus: bus, camera: name, worker: worker, log: log,
			journal: *j, rev: rev, replay: replay, nextSeq: next}
		if geo != nil {
			t.geo = *geo
		}
		t.geoJSON, _ = json.Marshal(t.geo)
		return t, nil
	}
}

// withLastMasks prepares a live camera's replay: an object present in the
// camera's last published result (its previous worker's last frame) is
// prompted with that mask, where it was last seen, instead of its clicks
// (a live scene has moved on since); the others with their clicks. A file
// camera restarts at its first frame, where the clicks belong.
func withLastMasks(ctx context.Context, bus *Bus, camera string, ps []prompt.Prompt, w, h int) []prompt.Prompt {
	m, err := bus.Results.GetLastMsgForSubject(ctx, Subject(camera, "results"))
	if err != nil {
		return ps
	}
	return lastMaskPrompts(camera, m.Data, ps, w, h)
}

// lastMaskPrompts is withLastMasks on the camera's last result, data (as
// its previous worker published it: a mask that is not a valid prompt of
// a w x h frame is not used, the object keeps its clicks).
func lastMaskPrompts(camera string, data []byte, ps []prompt.Prompt, w, h int) []prompt.Prompt {
	var r Result
	if json.Unmarshal(data, &r) != nil || r.Camera != camera || r.Width != w || r.Height != h {
		return ps
	}
	masks := map[int]mask.RLE{}
	for _, o := range r.Objects {
		mp := prompt.Prompt{Object: o.Object, Mask: &o.Mask}
		if o.Present && o.Mask.Area() > 0 && mp.Check(w, h) == nil {
			masks[o.Object] = o.Mask
		}
	}
	var out []prompt.Prompt
	done := map[int]bool{}
	for _, p := range ps {
		rle, ok := masks[p.Object]
		switch {
		case !ok:
			out = append(out, p)
		case !done[p.Object]:
			done[p.Object] = true
			out = append(out, prompt.Prompt{Object: p.Object, Mask: &rle})
		}
	}
	return out
}

// camTracker is the tracker of one camera on a worker.
type camTracker struct {
	inner  session.Tracker
	bus    *Bus
	camera string
	worker string
	log    *slog.Logger

	mu      sync.Mutex
	journal Journal
	rev     uint64          // journal revision this worker last wrote or read
	replay  []prompt.Prompt // journaled prompts not yet replayed
	geo     events.Geometry
	geoJSON []byte
	nextSeq uint64
}

var _ session.AnalyticsJournal = (*camTracker)(nil)

// Close closes the inner tracker (what it holds of the model's features).
func (t *camTracker) Close() error { return session.CloseTracker(t.inner) }

func (t *camTracker) Track(ctx context.Context, f *video.Frame) (*tracker.FrameResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	res, err := t.inner.Track(ctx, f)
	if err != nil {
		return nil, err
	}
	// The memory bank died with the old worker: the prompts are given
	// again on the first frame this worker tracks (a fixed camera sees
	// the same scene), in order, so objects keep their ids.
	for len(t.replay) > 0 {
		p := t.replay[0]
		p.Frame = f.Index
		r, err := t.inner.Prompt(ctx, p)
		if err != nil && ctx.Err() != nil {
			// The camera is being stopped: publish nothing half done.
			return nil, err
		}
		t.replay = t.replay[1:]
		if err != nil {
			t.log.Warn("worker: journaled prompt not replayed", "camera", t.camera, "object", p.Object, "err", err)
			continue
		}
		res = r
	}
	t.publish(res)
	return res, nil
}

func (t *camTracker) Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	res, err := t.inner.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	j := t.journal
	j.Prompts = append(append([]prompt.Prompt(nil), j.Prompts...), p)
	if err := t.save(ctx, j); err != nil {
		// Taken but not durable: say so rather than let the user believe
		// another worker would replay it.
		return nil, err
	}
	t.publish(res)
	return res, nil
}

func (t *camTracker) RemoveObject(id int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.inner.RemoveObject(id); err != nil {
		return err
	}
	j := t.journal
	j.Prompts = nil
	for _, p := range t.journal.Prompts {
		if p.Object != id {
			j.Prompts = append(j.Prompts, p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.save(ctx, j)
}

// save writes j if the journal is still at the revision this worker
// knows: a worker that lost the camera cannot overwrite its successor's.
func (t *camTracker) save(ctx context.Context, j Journal) error {
	if j.Prompts == nil {
		j.Prompts = []prompt.Prompt{}
	}
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("journal %s: %w", t.camera, err)
	}
	rev, err := t.bus.Journal.Update(ctx, t.camera, data, t.rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSeq(err) {
			return fmt.Errorf("journal %s: changed by another worker (this one lost the camera): %w", t.camera, err)
		}
		return fmt.Errorf("journal %s: %w", t.camera, err)
	}
	t.journal, t.rev = j, rev
	return nil
}

// publish sends a frame's result on the results subject. Results are
// best effort (the stream keeps the latest per camera); events carry the
// guarantees.
func (t *camTracker) publish(res *tracker.FrameResult) {
	r := Result{Camera: t.camera, Worker: t.worker, Frame: res.Frame, Wall: time.Now(),
		Width: res.Width, Height: res.Height, Objects: []ResultObject{}}
	for _, o := range res.Objects {
		r.Objects = append(r.Objects, ResultObject{Object: o.Object, Score: o.ObjectScore, IoU: o.IoU,
			Present: o.Present(), Box: [4]float32{o.Box.X0, o.Box.Y0, o.Box.X1, o.Box.Y1}, Mask: o.RLE})
	}
	data, err := json.Marshal(r)
	if err == nil {
		err = t.bus.NC.Publish(Subject(t.camera, "results"), data)
	}
	if err != nil {
		t.log.Warn("worker: result not published", "camera", t.camera, "frame", res.Frame, "err", err)
	}
}

// Analytics gives the camera's zones and lines (journaled ones win over
// the configured) and the number of its next event (session.AnalyticsJournal).
func (t *camTracker) Analytics() (events.Geometry, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.geo, t.nextSeq, true
}

// SaveAnalytics journals changed zones and lines; event numbers are kept
// by the events stream itself.
func (t *camTracker) SaveAnalytics(g events.Geometry, _ uint64) error {
	data, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("journal %s zones: %w", t.camera, err)
	}
	// Called under the session's analytics lock, possibly while the
	// model goroutine holds t.mu: only the journal write takes it.
	t.mu.Lock()
	defer t.mu.Unlock()
	if string(data) == string(t.geoJSON) {
		return nil
	}
	j := t.journal
	j.Geometry = &g
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.save(ctx, j); err != nil {
		return err
	}
	t.geo, t.geoJSON = g, data
	return nil
}

// Urgent passes the inner tracker's prompt priority through.
func (t *camTracker) Urgent() (done func()) { return session.UrgentOf(t.inner) }

// CondFrames passes the inner tracker's conditioning-frame counts through.
func (t *camTracker) CondFrames() map[int]int { return session.CondFramesOf(t.inner) }
