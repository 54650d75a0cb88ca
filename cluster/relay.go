package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/prompt"
)

// maxResultStreams caps concurrent /api/cluster/results clients of a front end.
const maxResultStreams = 64

// Relay is the front end's side: it takes every camera's events from the
// events stream through a durable consumer (acknowledged once handed on,
// so a front end that restarts resumes where it stopped) and hands them
// to Publish (a web.Server's /api/events and sinks), and it serves the
// cluster routes: the cameras and their workers, each camera's results as
// Server-Sent Events, and prompts forwarded to the owning worker.
type Relay struct {
	Bus *Bus
	// Durable names this front end's consumer; every front end has its own.
	Durable string
	Publish func(camera string, evs []events.Event)
	Log     *slog.Logger

	streams chan struct{} // result streams slots
	once    sync.Once
}

// RunEvents relays events until ctx ends. A redelivered event (its ack
// was lost) is dropped by its per-camera sequence number.
func (r *Relay) RunEvents(ctx context.Context) error {
	cons, err := r.Bus.JS.CreateOrUpdateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{
		Durable:           r.Durable,
		Description:       "vidseg front end: events to /api/events and sinks",
		DeliverPolicy:     jetstream.DeliverNewPolicy, // a new front end starts now; an existing durable resumes
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           30 * time.Second,
		MaxAckPending:     1024,
		InactiveThreshold: 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("nats: events consumer %s: %w", r.Durable, err)
	}
	last := map[string]uint64{} // stream sequence of each camera's last event handed on
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			r.Log.Warn("front end: event without metadata; skipped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			return
		}
		e, err := checkEvent(m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data(), md.Sequence.Stream)
		if err != nil {
			r.Log.Warn("front end: event refused", "subject", m.Subject(), "stream_seq", md.Sequence.Stream, "err", err)
			_ = m.Term()
			return
		}
		// A redelivered event (its ack was lost) has a stream sequence
		// already handed on. The stream's sequence, not the event's own
		// number, decides: a forged number cannot hide later events.
		if md.Sequence.Stream > last[e.Camera] {
			last[e.Camera] = md.Sequence.Stream
			r.Publish(e.Camera, []events.Event{e})
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("nats: events consumer %s: %w", r.Durable, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// checkEvent decodes the event stored at stream sequence streamSeq on
// subject with Nats-Msg-Id msgID, and checks it against the stream: it
// is the event of the subject's camera, its id is camera:seq, and its
// number is at least 1 and at most its stream sequence (a camera's events
// are numbered 1, 2, ... in the order the stream stores them, so a real
// number never exceeds the stream's).
func checkEvent(subject, msgID string, data []byte, streamSeq uint64) (events.Event, error) {
	var e events.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("not an event: %w", err)
	}
	if CheckName(e.Camera) != nil || subject != Subject(e.Camera, "events") {
		return e, fmt.Errorf("event of camera %.64q on subject %s", e.Camera, subject)
	}
	if id := fmt.Sprintf("%s:%d", e.Camera, e.Seq); e.ID != id || msgID != id {
		return e, fmt.Errorf("event id %.80q (Nats-Msg-Id %.80q), want %s", e.ID, msgID, id)
	}
	if e.Seq < 1 || e.Seq > streamSeq {
		return e, fmt.Errorf("event number %d beyond its stream sequence %d", e.Seq, streamSeq)
	}
	return e, nil
}

// Routes adds the cluster routes to mux (a web.Server's Handle):
//
//	GET  /api/cluster/cameras                  [{camera, worker, since}]
//	GET  /api/cluster/results?camera=NAME      SSE "result" (all cameras without camera=)
//	POST /api/cluster/cameras/{name}/prompts   prompt JSON -> {object, worker}
func (r *Relay) Routes(handle func(pattern string, h http.Handler)) {
	handle("GET /api/cluster/cameras", http.HandlerFunc(r.handleCameras))
	handle("GET /api/cluster/results", http.HandlerFunc(r.handleResults))
	handle("POST /api/cluster/cameras/{name}/prompts", http.HandlerFunc(r.handlePrompt))
}

// CameraStatus is one camera in GET /api/cluster/cameras.
type CameraStatus struct {
	Camera string    `json:"camera"`
	Worker string    `json:"worker"` // "" while no worker holds it
	Since  time.Time `json:"since,omitzero"`
}

func (r *Relay) handleCameras(w http.ResponseWriter, req *http.Request) {
	names, err := r.Bus.CameraNames(req.Context())
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err)
		return
	}
	sort.Strings(names)
	out := make([]CameraStatus, 0, len(names))
	for _, n := range names {
		l, err := r.Bus.Owner(req.Context(), n)
		if err != nil {
			httpError(w, http.StatusServiceUnavailable, err)
			return
		}
		out = append(out, CameraStatus{Camera: n, Worker: l.Worker, Since: l.Since})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleResults streams results as they are published, starting with the
// latest of each camera; whichever worker tracks a camera, its results
// arrive here.
func (r *Relay) handleResults(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, errors.New("result stream: connection cannot stream"))
		return
	}
	filter := "vidseg.*.results"
	if cam := req.URL.Query().Get("camera"); cam != "" {
		if err := CheckName(cam); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		filter = Subject(cam, "results")
	}
	r.once.Do(func() { r.streams = make(chan struct{}, maxResultStreams) })
	select {
	case r.streams <- struct{}{}:
		defer func() { <-r.streams }()
	default:
		httpError(w, http.StatusServiceUnavailable, fmt.Errorf("too many result streams (%d); close one first", maxResultStreams))
		return
	}
	ctx := req.Context()
	cons, err := r.Bus.Results.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, fmt.Errorf("result stream: %w", err))
		return
	}
	msgs, err := cons.Messages()
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, fmt.Errorf("result stream: %w", err))
		return
	}
	defer msgs.Stop()
	go func() { <-ctx.Done(); msgs.Stop() }()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		m, err := msgs.Next()
		if err != nil {
			return // client gone or the connection closed
		}
		md, _ := m.Metadata()
		var seq uint64
		if md != nil {
			seq = md.Sequence.Stream
		}
		frame, err := resultEvent(m.Subject(), seq, m.Data())
		if err != nil {
			r.Log.Warn("front end: result refused", "subject", m.Subject(), "stream_seq", seq, "err", err)
			continue
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		fl.Flush()
	}
}

// resultEvent is the Server-Sent Event of the result stored at stream
// sequence seq on subject: only a JSON object of the subject's camera,
// re-encoded on one line, so that a worker's message cannot end the
// event early and add events or fields of its own.
func resultEvent(subject string, seq uint64, data []byte) ([]byte, error) {
	var r struct {
		Camera string `json:"camera"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("not a result: %w", err)
	}
	if CheckName(r.Camera) != nil || subject != Subject(r.Camera, "results") {
		return nil, fmt.Errorf("result of camera %.64q on subject %s", r.Camera, subject)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, fmt.Errorf("not a result: %w", err)
	}
	if bytes.ContainsAny(compact.Bytes(), "\r\n") { // json.Compact keeps none outside strings, where they are escaped
		return nil, errors.New("result spans lines")
	}
	return fmt.Appendf(nil, "id: %d\nevent: result\ndata: %s\n\n", seq, compact.Bytes()), nil
}

// decodePrompt reads a prompt request (relayed or answered): valid JSON,
// not empty, within prompt.Check's limits (the frame size is checked by
// the worker's session).
func decodePrompt(data []byte) (prompt.Prompt, error) {
	var p prompt.Prompt
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("prompt: %w", err)
	}
	if p.Empty() {
		return p, errors.New("prompt: no points, box or mask")
	}
	if err := p.Check(0, 0); err != nil {
		return p, fmt.Errorf("prompt: %w", err)
	}
	return p, nil
}

// maxPromptBody bounds a prompt request (a mask prompt is RLE).
const maxPromptBody = 1 << 20

func (r *Relay) handlePrompt(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	if err := CheckName(name); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxPromptBody))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("prompt: %w", err))
		return
	}
	p, err := decodePrompt(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	data, _ := json.Marshal(p)
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Minute)
	defer cancel()
	m, err := r.Bus.NC.RequestWithContext(ctx, Subject(name, "prompt"), data)
	if errors.Is(err, nats.ErrNoResponders) {
		httpError(w, http.StatusServiceUnavailable, fmt.Errorf("camera %s has no worker right now; retry in a few seconds", name))
		return
	}
	if err != nil {
		httpError(w, http.StatusGatewayTimeout, fmt.Errorf("camera %s: prompt not answered: %w", name, err))
		return
	}
	var rep PromptReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		httpError(w, http.StatusBadGateway, fmt.Errorf("camera %s: worker's answer: %w", name, err))
		return
	}
	if rep.Error != "" {
		httpError(w, http.StatusConflict, fmt.Errorf("camera %s on worker %s: %s", name, rep.Worker, rep.Error))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
