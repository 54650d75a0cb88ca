package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// eventRing is how many recent events /api/events can replay to a client
// that reconnects with Last-Event-ID.
const eventRing = 4096

// maxEventStreams caps concurrent /api/events clients.
const maxEventStreams = 64

// hubEvent is an event with its server-wide SSE id.
type hubEvent struct {
	id      uint64
	session string
	e       events.Event
}

// eventHub fans events out to the configured sinks and to SSE clients,
// keeping the last eventRing for clients that reconnect.
type eventHub struct {
	sinks []events.Sink

	mu   sync.Mutex
	next uint64
	ring []hubEvent
	subs map[chan hubEvent]struct{}
}

func newEventHub(sinks []events.Sink) *eventHub {
	return &eventHub{sinks: sinks, next: 1, subs: make(map[chan hubEvent]struct{})}
}

func (h *eventHub) publish(session string, evs []events.Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	for _, e := range evs {
		he := hubEvent{id: h.next, session: session, e: e}
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

// subscribe returns the events after lastID still in the ring and a channel
// for the next ones.
func (h *eventHub) subscribe(lastID uint64) ([]hubEvent, chan hubEvent, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxEventStreams {
		return nil, nil, fmt.Errorf("too many event streams (%d); close one first", maxEventStreams)
	}
	var backlog []hubEvent
	for _, he := range h.ring {
		if he.id > lastID {
			backlog = append(backlog, he)
		}
	}
	ch := make(chan hubEvent, 256)
	h.subs[ch] = struct{}{}
	return backlog, ch, nil
}

func (h *eventHub) unsubscribe(ch chan hubEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// closeAll ends every stream (server shutdown).
func (h *eventHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
}

// handleEvents streams events as Server-Sent Events: "id" is a server-wide
// sequence (send it back as Last-Event-ID to resume without a gap while the
// events are still in memory), "event" the kind, "data" the JSON event.
// ?session=ID or ?camera=NAME narrow the stream.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("event stream: connection cannot stream"))
		return
	}
	var last uint64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("Last-Event-ID %q is not a number", v))
			return
		}
		last = n
	}
	session, camera := r.URL.Query().Get("session"), r.URL.Query().Get("camera")
	backlog, ch, err := s.hub.subscribe(last)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer s.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(he hubEvent) error {
		if (session != "" && he.session != session) || (camera != "" && he.e.Camera != camera) {
			return nil
		}
		data, err := json.Marshal(he.e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", he.id, he.e.Kind, data)
		return err
	}
	for _, he := range backlog {
		if err := write(he); err != nil {
			return
		}
	}
	// A comment at once tells the client the stream is open.
	if _, err := fmt.Fprint(w, ": ok\n\n"); err != nil {
		return
	}
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case he, ok := <-ch:
			if !ok {
				return
			}
			if err := write(he); err != nil {
				return
			}
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
		fl.Flush()
	}
}

// handleGetZones answers a session's zones and lines.
func (s *Server) handleGetZones(w http.ResponseWriter, r *http.Request, ss *Session) {
	writeJSON(w, http.StatusOK, ss.det.Geometry())
}

// handlePutZones replaces a session's zones and lines:
// {"zones":[{"name","polygon":[{x,y}...],"dwellMs"}], "lines":[{"name","a":{x,y},"b":{x,y}}]}
// in source-frame pixels.
func (s *Server) handlePutZones(w http.ResponseWriter, r *http.Request, ss *Session) {
	var g events.Geometry
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("zones: want JSON {zones:[{name, polygon:[{x,y}], dwellMs}], lines:[{name, a:{x,y}, b:{x,y}}]}: %w", err))
		return
	}
	if err := ss.SetGeometry(g); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, events.ErrGeometry) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, ss.det.Geometry())
}

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
	if j, ok := ss.trk.(AnalyticsJournal); ok {
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
	if j, ok := ss.trk.(AnalyticsJournal); ok {
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
	if j, ok := ss.trk.(AnalyticsJournal); ok {
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
