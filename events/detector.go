package events

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Config tunes a Detector. Zero fields take the defaults in brackets.
type Config struct {
	// Camera names the source in every event (a camera or session name).
	Camera string
	// Threshold on the object score [0]: above Threshold+Margin counts as
	// seen, below Threshold-Margin as not seen; between, a frame counts for
	// neither, so a score hovering at the threshold changes nothing.
	Threshold float32
	Margin    float32 // [0.5]
	// Frames is how many consecutive frames confirm a change [3]: seen
	// before appeared/reappeared, unseen before occluded, inside or outside
	// before a zone change, on the other side before a line crossing.
	Frames int
	// LeftAfter is how long (by PTS) an occluded object stays unseen before
	// it has left [2s].
	LeftAfter time.Duration
	// FirstSeq is the sequence number of the first event (to continue a
	// journaled camera after a restart) [1].
	FirstSeq uint64
}

func (c *Config) defaults() {
	if c.Margin <= 0 {
		c.Margin = 0.5
	}
	if c.Frames <= 0 {
		c.Frames = 3
	}
	if c.LeftAfter <= 0 {
		c.LeftAfter = 2 * time.Second
	}
	if c.FirstSeq == 0 {
		c.FirstSeq = 1
	}
}

type presence int

const (
	unseen   presence = iota // never confirmed, or left
	visible                  // confirmed present
	occluded                 // confirmed absent for a while
)

type object struct {
	state        presence
	seen, hidden int           // consecutive seen / unseen frames
	lostAt       time.Duration // PTS when it was first unseen in this run
	anchor       Point         // last anchor while visible
	hasAnchor    bool
	zones        map[string]*zoneState
	lines        map[string]*lineState
}

type zoneState struct {
	in      bool
	count   int           // consecutive frames disagreeing with in
	since   time.Duration // PTS of the confirmed entry
	dwelled bool          // Dwell event raised for this visit
}

type lineState struct {
	side  int   // confirmed side, 0 unknown
	count int   // consecutive frames on the other side
	from  Point // last anchor on the confirmed side
}

// Detector turns frames into events. Observe is called with frames in
// order; SetGeometry may be called from another goroutine.
type Detector struct {
	cfg Config

	mu      sync.Mutex
	geo     Geometry
	seq     uint64
	objects map[int]*object
}

// NewDetector returns a Detector for cfg with the given zones and lines.
func NewDetector(cfg Config, g Geometry) (*Detector, error) {
	cfg.defaults()
	if err := g.Validate(0, 0); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, geo: g, seq: cfg.FirstSeq, objects: make(map[int]*object)}, nil
}

// SetGeometry replaces the zones and lines. Objects inside a zone that is
// removed or redrawn start over there (no leave event for a zone that is
// gone).
func (d *Detector) SetGeometry(g Geometry) error {
	if err := g.Validate(0, 0); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.geo = g
	for _, o := range d.objects {
		o.zones, o.lines = nil, nil
	}
	return nil
}

// Geometry returns the current zones and lines.
func (d *Detector) Geometry() Geometry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.geo
}

// NextSeq is the sequence number the next event will get.
func (d *Detector) NextSeq() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

// Forget drops an object the user removed; it raises Left if it was present.
func (d *Detector) Forget(id int, f Frame) []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.objects[id]
	if o == nil {
		return nil
	}
	delete(d.objects, id)
	var out []Event
	if o.state != unseen {
		out = d.leaveAll(out, id, o, f, 0)
		out = append(out, d.event(Left, id, f, 0, o.anchor))
	}
	return out
}

// Observe processes one frame and returns the events it caused, in order.
func (d *Detector) Observe(f Frame) []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Event
	hi, lo := d.cfg.Threshold+d.cfg.Margin, d.cfg.Threshold-d.cfg.Margin
	obs := append([]Observation(nil), f.Objects...)
	sort.Slice(obs, func(i, j int) bool { return obs[i].Object < obs[j].Object })
	seenIDs := make(map[int]bool, len(obs))
	for _, ob := range obs {
		seenIDs[ob.Object] = true
		o := d.objects[ob.Object]
		if o == nil {
			o = &object{}
			d.objects[ob.Object] = o
		}
		score := ob.Score
		if math.IsNaN(float64(score)) {
			score = d.cfg.Threshold // undecided
		}
		switch {
		case score > hi:
			o.seen++
			o.hidden = 0
		case score < lo:
			if o.hidden == 0 {
				o.lostAt = f.PTS
			}
			o.hidden++
			o.seen = 0
		}
		if score > hi {
			o.anchor, o.hasAnchor = anchorOf(ob), true
		}
		out = d.presence(out, ob, o, f)
		if o.state == visible && score > hi {
			out = d.zones(out, ob.Object, o, f, ob.Score)
			out = d.lines(out, ob.Object, o, f, ob.Score)
		}
	}
	// Objects missing from the frame count as unseen.
	ids := make([]int, 0, len(d.objects))
	for id := range d.objects {
		if !seenIDs[id] {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for _, id := range ids {
		o := d.objects[id]
		if o.hidden == 0 {
			o.lostAt = f.PTS
		}
		o.hidden++
		o.seen = 0
		out = d.presence(out, Observation{Object: id, Score: float32(math.Inf(-1))}, o, f)
	}
	return out
}

func (d *Detector) presence(out []Event, ob Observation, o *object, f Frame) []Event {
	n := d.cfg.Frames
	score := finite(ob.Score)
	switch o.state {
	case unseen:
		if o.seen >= n {
			o.state = visible
			out = append(out, d.event(Appeared, ob.Object, f, score, o.anchor))
		}
	case visible:
		if o.hidden >= n {
			o.state = occluded
			e := d.event(Occluded, ob.Object, f, score, o.anchor)
			out = append(out, e)
		}
	case occluded:
		switch {
		case o.seen >= n:
			o.state = visible
			out = append(out, d.event(Reappeared, ob.Object, f, score, o.anchor))
		case o.hidden > 0 && f.PTS-o.lostAt >= d.cfg.LeftAfter:
			o.state = unseen
			out = d.leaveAll(out, ob.Object, o, f, score)
			out = append(out, d.event(Left, ob.Object, f, score, o.anchor))
			o.lines = nil // a new visit starts without a side
		}
	}
	return out
}

// leaveAll ends the object's zone visits (it left the picture).
func (d *Detector) leaveAll(out []Event, id int, o *object, f Frame, score float32) []Event {
	for _, z := range d.geo.Zones {
		zs := o.zones[z.Name]
		if zs == nil || !zs.in {
			continue
		}
		out = append(out, d.zoneEvent(ZoneLeave, id, f, score, o.anchor, z.Name, zs.since))
		zs.in, zs.count = false, 0
	}
	return out
}

// zoneEvent is a zone event with the time spent in the zone since since.
func (d *Detector) zoneEvent(kind Kind, id int, f Frame, score float32, at Point, zone string, since time.Duration) Event {
	e := d.event(kind, id, f, score, at)
	e.Zone = zone
	if kind != ZoneEnter {
		e.DwellMs = ms(f.PTS - since)
	}
	return e
}

func (d *Detector) zones(out []Event, id int, o *object, f Frame, score float32) []Event {
	if len(d.geo.Zones) == 0 {
		return out
	}
	if o.zones == nil {
		o.zones = make(map[string]*zoneState)
	}
	for _, z := range d.geo.Zones {
		zs := o.zones[z.Name]
		if zs == nil {
			zs = &zoneState{}
			o.zones[z.Name] = zs
		}
		in := contains(z.Polygon, o.anchor)
		if in == zs.in {
			zs.count = 0
		} else if zs.count++; zs.count >= d.cfg.Frames {
			zs.in, zs.count = in, 0
			kind := ZoneLeave
			if in {
				kind, zs.since, zs.dwelled = ZoneEnter, f.PTS, false
			}
			out = append(out, d.zoneEvent(kind, id, f, finite(score), o.anchor, z.Name, zs.since))
		}
		if zs.in && !zs.dwelled && z.DwellMs > 0 && ms(f.PTS-zs.since) >= z.DwellMs {
			zs.dwelled = true
			out = append(out, d.zoneEvent(Dwell, id, f, finite(score), o.anchor, z.Name, zs.since))
		}
	}
	return out
}

func (d *Detector) lines(out []Event, id int, o *object, f Frame, score float32) []Event {
	if len(d.geo.Lines) == 0 {
		return out
	}
	if o.lines == nil {
		o.lines = make(map[string]*lineState)
	}
	for _, l := range d.geo.Lines {
		ls := o.lines[l.Name]
		if ls == nil {
			ls = &lineState{}
			o.lines[l.Name] = ls
		}
		s := side(l.A, l.B, o.anchor)
		switch {
		case s == 0:
		case ls.side == 0:
			ls.side, ls.from = s, o.anchor
		case s == ls.side:
			ls.count, ls.from = 0, o.anchor
		default:
			ls.count++
			if ls.count < d.cfg.Frames {
				continue
			}
			// Confirmed on the other side: it crossed the line itself only
			// if its path passed between A and B, not around an end.
			crossed := crosses(l.A, l.B, ls.from, o.anchor)
			if crossed {
				e := d.event(LineCross, id, f, finite(score), o.anchor)
				e.Line, e.Direction = l.Name, "out"
				if s > 0 {
					e.Direction = "in"
				}
				out = append(out, e)
			}
			ls.side, ls.count, ls.from = s, 0, o.anchor
		}
	}
	return out
}

func (d *Detector) event(k Kind, id int, f Frame, score float32, at Point) Event {
	e := Event{
		ID: fmt.Sprintf("%s:%d", d.cfg.Camera, d.seq), Seq: d.seq, Kind: k, Camera: d.cfg.Camera,
		Object: id, Frame: f.Index, PTSms: ms(f.PTS), Wall: f.Wall, Score: score, X: at.X, Y: at.Y,
	}
	d.seq++
	return e
}

func anchorOf(ob Observation) Point {
	if ob.HasAnchor {
		return ob.Anchor
	}
	b := ob.Box
	return Point{X: float64(b[0]+b[2]) / 2, Y: float64(b[1]+b[3]) / 2}
}

func finite(v float32) float32 {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return v
}

func ms(d time.Duration) float64 { return math.Round(d.Seconds()*10000) / 10 }
