package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/session"
)

// eventWriteTimeout drops an event stream whose client stops reading.
const eventWriteTimeout = 30 * time.Second

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
	sessionID, camera := r.URL.Query().Get("session"), r.URL.Query().Get("camera")
	release, err := s.limits.eventStreams.take(r)
	if err != nil {
		writeError(w, statusOf(err), fmt.Errorf("event stream: %w", err))
		return
	}
	defer release()
	hub := s.m.Events()
	backlog, ch, err := hub.Subscribe(last)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer hub.Unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(he session.Event) error {
		if (sessionID != "" && he.Session != sessionID) || (camera != "" && he.Event.Camera != camera) {
			return nil
		}
		data, err := json.Marshal(he.Event)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", he.ID, he.Event.Kind, data)
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
	// An idle client holds its stream for EventStreamLifetime at most;
	// EventSource reconnects with Last-Event-ID and loses nothing.
	var end <-chan time.Time
	if s.cfg.EventStreamLifetime > 0 {
		t := time.NewTimer(s.cfg.EventStreamLifetime)
		defer t.Stop()
		end = t.C
	}
	rc := http.NewResponseController(w)
	for {
		// A client that stops reading is dropped once its writes block.
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		select {
		case <-end:
			return
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
func (s *Server) handleGetZones(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	writeJSON(w, http.StatusOK, ss.Geometry())
}

// handlePutZones replaces a session's zones and lines:
// {"zones":[{"name","polygon":[{x,y}...],"dwellMs"}], "lines":[{"name","a":{x,y},"b":{x,y}}]}
// in source-frame pixels.
func (s *Server) handlePutZones(w http.ResponseWriter, r *http.Request, ss *session.Session) {
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
	writeJSON(w, http.StatusOK, ss.Geometry())
}
