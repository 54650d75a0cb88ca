// Package events turns per-frame tracking results into the events that
// surveillance users consume: an object appeared, was occluded, reappeared
// or left; entered or left a polygon zone and how long it stayed; crossed a
// line and in which direction.
//
// A Detector keeps per-object state with hysteresis (a state changes only
// after several consistent frames whose object score clears a margin), so
// a flickering score or a mask jittering on a zone border is not an event.
// Sinks deliver events as JSON Lines, to webhooks (with retries) or to any
// Sink.
package events

import (
	"fmt"
	"time"
)

// Kind names what happened.
type Kind string

const (
	Appeared   Kind = "appeared"   // first seen (or seen again after it left)
	Occluded   Kind = "occluded"   // lost for a few frames; may come back
	Reappeared Kind = "reappeared" // seen again after Occluded
	Left       Kind = "left"       // lost for longer than Config.LeftAfter
	ZoneEnter  Kind = "zone_enter" // its anchor point entered a zone
	ZoneLeave  Kind = "zone_leave" // ... left it (DwellMs says how long it stayed)
	Dwell      Kind = "dwell"      // stayed in a zone longer than the zone's Dwell
	LineCross  Kind = "line_cross" // its anchor point crossed a line (Direction)
)

// Event is one analytics event. ID is "<camera>:<seq>": stable across
// retries, so a receiver can drop duplicates.
type Event struct {
	ID     string    `json:"id"`
	Seq    uint64    `json:"seq"`
	Kind   Kind      `json:"kind"`
	Camera string    `json:"camera"`
	Object int       `json:"object"`
	Frame  int       `json:"frame"`
	PTSms  float64   `json:"ptsMs"`
	Wall   time.Time `json:"wall"`
	Zone   string    `json:"zone,omitempty"`
	Line   string    `json:"line,omitempty"`
	// Direction of a line crossing: "in" when the anchor moved from the
	// left of A->B to its right (image coordinates, y down), else "out".
	Direction string `json:"direction,omitempty"`
	// DwellMs is the time spent in the zone (zone_leave, dwell), by PTS.
	DwellMs float64 `json:"dwellMs,omitempty"`
	// Score is the object score on the frame that decided the event.
	Score float32 `json:"score"`
	X     float64 `json:"x"` // anchor point, source pixels
	Y     float64 `json:"y"`
}

func (e Event) String() string {
	s := fmt.Sprintf("%s object %d %s frame %d", e.Camera, e.Object, e.Kind, e.Frame)
	if e.Zone != "" {
		s += " zone " + e.Zone
	}
	if e.Line != "" {
		s += " line " + e.Line + " " + e.Direction
	}
	return s
}

// Observation is one object's result on one frame.
type Observation struct {
	Object int
	// Score is the object-presence logit (> Config.Threshold: present).
	Score float32
	// Box is the object's box in source pixels [x0 y0 x1 y1]; its centre is
	// the anchor point unless Anchor is set.
	Box [4]float32
	// Anchor, when HasAnchor, is the point tested against zones and lines
	// (for example the mask centroid).
	Anchor    Point
	HasAnchor bool
}

// Frame is every object's result on one tracked frame.
type Frame struct {
	Index   int
	PTS     time.Duration
	Wall    time.Time
	Objects []Observation
}

// Sink receives events in order. Send must not block for long: sinks
// that do I/O queue.
type Sink interface {
	Send(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Send calls f.
func (f SinkFunc) Send(e Event) { f(e) }
