package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/vidseg/vidseg/events"
)

// EventPublisher is the events.Sink of a worker: each camera's events go
// into the events stream in order, each with its id as Nats-Msg-Id (a
// retried publish is stored once) and with the stream sequence of the
// camera's previous event as the expected last sequence of the subject.
// That expectation fences a worker that lost its camera: once another
// worker published for it, every publish of the old one is refused.
//
// The next event number of a camera taken over is read from the stream
// (Resume), so numbers continue from the last event stored: an event that
// was queued but never stored by a killed worker is never seen by anyone,
// and its number is given to the next event, leaving no gap.
type EventPublisher struct {
	bus *Bus
	log *slog.Logger
	// self tags this publisher's messages (header PublisherHeader), to
	// tell its own retried event from another worker's with the same id.
	self string
	// lost is told about a camera whose events were refused (fenced).
	lost func(camera string)

	mu   sync.Mutex
	cams map[string]*cameraEvents
}

type cameraEvents struct {
	name string
	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}

	mu     sync.Mutex
	queue  []events.Event
	empty  chan struct{} // closed while queue is empty
	last   uint64        // stream sequence of the camera's last stored event
	fenced bool
}

// setQueue replaces the queue, keeping empty in step; under c.mu.
func (c *cameraEvents) setQueue(q []events.Event) {
	wasEmpty := len(c.queue) == 0
	c.queue = q
	switch {
	case wasEmpty && len(q) > 0:
		c.empty = make(chan struct{})
	case !wasEmpty && len(q) == 0:
		close(c.empty)
	}
}

// PublisherHeader names the publisher of an event (random per worker run).
const PublisherHeader = "Vidseg-Publisher"

// NewEventPublisher returns a publisher on bus; lost (may be nil) is
// called when a camera's events are refused because another worker took
// it over.
func NewEventPublisher(bus *Bus, log *slog.Logger, lost func(camera string)) *EventPublisher {
	if lost == nil {
		lost = func(string) {}
	}
	return &EventPublisher{bus: bus, log: log, lost: lost, self: nuid.Next(), cams: make(map[string]*cameraEvents)}
}

// Resume starts publishing camera's events and returns the number of its
// next event: one more than the last stored in the stream (1 if none).
func (p *EventPublisher) Resume(ctx context.Context, camera string) (uint64, error) {
	var last, next uint64 = 0, 1
	m, err := p.bus.Events.GetLastMsgForSubject(ctx, Subject(camera, "events"))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return 0, fmt.Errorf("camera %s: last event: %w", camera, err)
	default:
		last, next = m.Sequence, m.Sequence+1
		if e, err := checkEvent(m.Subject, m.Header.Get(jetstream.MsgIDHeader), m.Data, m.Sequence); err == nil {
			next = e.Seq + 1
		} else {
			// Not this camera's real event (forged, or a number that could
			// overflow): number after the stream's sequence, which no real
			// number of the camera reaches, so ids stay unique.
			p.log.Warn("worker: camera's last stored event refused; numbering continues after its stream sequence",
				"camera", camera, "stream_seq", m.Sequence, "err", err)
		}
	}
	p.Stop(camera) // a camera this worker had before starts afresh
	ctx, cancel := context.WithCancel(context.Background())
	c := &cameraEvents{name: camera, wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{}), empty: make(chan struct{}), last: last}
	close(c.empty)
	p.mu.Lock()
	p.cams[camera] = c
	p.mu.Unlock()
	go p.run(ctx, c)
	return next, nil
}

// Send queues an event; it never blocks (events.Sink).
func (p *EventPublisher) Send(e events.Event) {
	p.mu.Lock()
	c := p.cams[e.Camera]
	p.mu.Unlock()
	if c == nil {
		p.log.Warn("worker: event of a camera not taken here dropped", "camera", e.Camera, "id", e.ID)
		return
	}
	c.mu.Lock()
	if !c.fenced {
		c.setQueue(append(c.queue, e))
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Flush waits until camera's queued events are stored (or refused), or ctx ends.
func (p *EventPublisher) Flush(ctx context.Context, camera string) error {
	p.mu.Lock()
	c := p.cams[camera]
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	empty := c.empty
	c.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		return fmt.Errorf("camera %s: %d events not stored: %w", camera, n, ctx.Err())
	}
}

// Stop ends publishing camera's events; queued ones are dropped.
func (p *EventPublisher) Stop(camera string) {
	p.mu.Lock()
	c := p.cams[camera]
	delete(p.cams, camera)
	p.mu.Unlock()
	if c != nil {
		c.stop()
		<-c.done
	}
}

// Close stops every camera.
func (p *EventPublisher) Close() {
	p.mu.Lock()
	names := make([]string, 0, len(p.cams))
	for n := range p.cams {
		names = append(names, n)
	}
	p.mu.Unlock()
	for _, n := range names {
		p.Stop(n)
	}
}

func (p *EventPublisher) run(ctx context.Context, c *cameraEvents) {
	defer close(c.done)
	subj := Subject(c.name, "events")
	backoff := 50 * time.Millisecond
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.fenced {
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		e, last := c.queue[0], c.last
		c.mu.Unlock()
		data, err := json.Marshal(e)
		if err != nil { // cannot happen for events.Event; drop rather than wedge
			p.log.Error("worker: event not encoded", "id", e.ID, "err", err)
			p.pop(c, last)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{PublisherHeader: []string{p.self}}}
		ack, err := p.bus.JS.PublishMsg(pctx, msg, jetstream.WithMsgID(e.ID), jetstream.WithExpectLastSequencePerSubject(last))
		cancel()
		if err == nil {
			p.pop(c, ack.Sequence)
			backoff = 50 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if isWrongLastSeq(err) {
			// Either an earlier try of this very event was stored (its
			// ack was lost) or another worker publishes for the camera.
			m, gerr := p.bus.Events.GetLastMsgForSubject(ctx, subj)
			if gerr == nil && m.Header.Get(jetstream.MsgIDHeader) == e.ID && m.Header.Get(PublisherHeader) == p.self {
				p.pop(c, m.Sequence)
				continue
			}
			p.log.Error("worker: camera's events refused: another worker took it over", "camera", c.name, "id", e.ID)
			c.mu.Lock()
			c.fenced = true
			c.setQueue(nil)
			c.mu.Unlock()
			p.lost(c.name)
			continue
		}
		p.log.Warn("worker: event not stored; retrying", "camera", c.name, "id", e.ID, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// pop removes the event just stored at stream sequence seq.
func (p *EventPublisher) pop(c *cameraEvents, seq uint64) {
	c.mu.Lock()
	c.setQueue(c.queue[1:])
	c.last = seq
	c.mu.Unlock()
}
