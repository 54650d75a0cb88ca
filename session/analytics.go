package session

import (
	"fmt"
	"sync"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/tracker"
)

// AnalyticsJournal is implemented by a Tracker that also keeps a session's
// analytics durable: its zones and lines and the next event sequence
// number, so that a resumed session keeps both and never reuses an ID.
type AnalyticsJournal interface {
	Analytics() (g events.Geometry, nextSeq uint64, ok bool)
	SaveAnalytics(g events.Geometry, nextSeq uint64) error
}

// eventRing is how many recent events a subscriber that reconnects
// (/api/events with Last-Event-ID) can replay.
const eventRing = 4096

// maxEventStreams caps concurrent subscribers (/api/events clients).
const maxEventStreams = 64

// Event is an event with its manager-wide sequence number (the SSE id)
// and the session that raised it.
type Event struct {
	ID      uint64
	Session string
	Event   events.Event
}

// Hub fans events out to the configured sinks and to subscribers (the
// SSE clients of /api/events), keeping the last eventRing for
// subscribers that reconnect.
type Hub struct {
	sinks []events.Sink

	mu   sync.Mutex
	next uint64
	ring []Event
	subs map[chan Event]struct{}
}

func newHub(sinks []events.Sink) *Hub {
	return &Hub{sinks: sinks, next: 1, subs: make(map[chan Event]struct{})}
}

func (h *Hub) publish(session string, evs []events.Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	for _, e := range evs {
		he := Event{ID: h.next, Session: session, Event: e}
		h.next++
		if len(h.ring) == eventRing {
			copy(h.ring, h.ring[1:])
			h.ring = h.ring[:eventRing-1]
		}
		h.ring = append(h.ring, he)
		for ch := range h.subs {
			select {
			case ch <- he:
			default:
				// Too slow: end its stream; it reconnects with
				// Last-Event-ID and replays from the ring.
				close(ch)
				delete(h.subs, ch)
			}
		}
	}
	h.mu.Unlock()
	for _, s := range h.sinks {
		for _, e := range evs {
			s.Send(e)
		}
	}
}

// Subscribe returns the events after lastID still in the ring and a
// channel for the next ones. The channel is closed when the subscriber
// falls too far behind (it subscribes again from its last ID), on
// Unsubscribe and when the manager closes.
func (h *Hub) Subscribe(lastID uint64) ([]Event, chan Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxEventStreams {
		return nil, nil, fmt.Errorf("too many event streams (%d); close one first", maxEventStreams)
	}
	var backlog []Event
	for _, he := range h.ring {
		if he.ID > lastID {
			backlog = append(backlog, he)
		}
	}
	ch := make(chan Event, 256)
	h.subs[ch] = struct{}{}
	return backlog, ch, nil
}

// Unsubscribe ends a subscription.
func (h *Hub) Unsubscribe(ch chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// closeAll ends every subscription (the manager closes).
func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
}

// analyticsJournal is the journal keeping the session's analytics: its
// tracker's, or an edit session's file tracker's.
func (ss *Session) analyticsJournal() (AnalyticsJournal, bool) {
	if j, ok := ss.trk.(AnalyticsJournal); ok {
		return j, true
	}
	if ss.ed != nil {
		j, ok := ss.ed.trk.(AnalyticsJournal)
		return j, ok
	}
	return nil, false
}

// Geometry is the session's zones and lines.
func (ss *Session) Geometry() events.Geometry { return ss.det.Geometry() }

// SetGeometry validates and applies zones and lines, journaling them first
// when the tracker keeps analytics.
func (ss *Session) SetGeometry(g events.Geometry) error {
	if g.Zones == nil {
		g.Zones = []events.Zone{}
	}
	if g.Lines == nil {
		g.Lines = []events.Line{}
	}
	if err := g.Validate(ss.Info.Width, ss.Info.Height); err != nil {
		return err
	}
	ss.analyticsMu.Lock()
	defer ss.analyticsMu.Unlock()
	if j, ok := ss.analyticsJournal(); ok {
		if err := j.SaveAnalytics(g, ss.det.NextSeq()); err != nil {
			return fmt.Errorf("zones not saved: %w", err)
		}
	}
	return ss.det.SetGeometry(g)
}

// analyze turns a model result into events and publishes them. The next
// sequence number is journaled before the events leave, so a crash can
// lose an event but never give two events one ID.
func (ss *Session) analyze(res *tracker.FrameResult, f events.Frame) {
	for _, o := range res.Objects {
		f.Objects = append(f.Objects, events.Observation{
			Object: o.Object, Score: o.ObjectScore, Box: [4]float32{o.Box.X0, o.Box.Y0, o.Box.X1, o.Box.Y1},
		})
	}
	ss.analyticsMu.Lock()
	ss.lastFrame = events.Frame{Index: f.Index, PTS: f.PTS, Wall: f.Wall}
	evs := ss.det.Observe(f)
	ss.publishLocked(evs)
	ss.analyticsMu.Unlock()
}

func (ss *Session) forget(id int) {
	ss.analyticsMu.Lock()
	f := ss.lastFrame
	f.Wall = time.Now()
	evs := ss.det.Forget(id, f)
	ss.publishLocked(evs)
	ss.analyticsMu.Unlock()
}

func (ss *Session) publishLocked(evs []events.Event) {
	if len(evs) == 0 {
		return
	}
	if j, ok := ss.analyticsJournal(); ok {
		if err := j.SaveAnalytics(ss.det.Geometry(), ss.det.NextSeq()); err != nil {
			ss.log.Warn("events not journaled", "session", ss.ID, "err", err)
		}
	}
	ss.eventCount.Add(int64(len(evs)))
	ss.hub.publish(ss.ID, evs)
}

// initAnalytics creates the session's detector: zones, lines and sequence
// come from the tracker's journal when it has them (a resumed session),
// else from geo.
func (ss *Session) initAnalytics(cfg events.Config, geo *events.Geometry) error {
	cfg.Camera = ss.Camera
	var g events.Geometry
	if geo != nil {
		g = *geo
	}
	if j, ok := ss.analyticsJournal(); ok {
		if jg, seq, ok := j.Analytics(); ok {
			g, cfg.FirstSeq = jg, seq
		}
	}
	if g.Zones == nil {
		g.Zones = []events.Zone{}
	}
	if g.Lines == nil {
		g.Lines = []events.Line{}
	}
	if err := g.Validate(ss.Info.Width, ss.Info.Height); err != nil {
		return fmt.Errorf("session %s: %w", ss.Camera, err)
	}
	det, err := events.NewDetector(cfg, g)
	if err != nil {
		return err
	}
	ss.det = det
	return nil
}
