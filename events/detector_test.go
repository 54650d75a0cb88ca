package events

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// run feeds frames where each step gives object 1's score and box centre.
type step struct {
	score float32
	x, y  float64
}

func feed(t *testing.T, d *Detector, steps []step) []Event {
	t.Helper()
	var out []Event
	for i, s := range steps {
		f := Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Wall: time.Unix(1000, 0).Add(time.Duration(i) * 100 * time.Millisecond)}
		f.Objects = []Observation{{Object: 1, Score: s.score, Box: [4]float32{float32(s.x - 5), float32(s.y - 5), float32(s.x + 5), float32(s.y + 5)}}}
		out = append(out, d.Observe(f)...)
	}
	return out
}

func kinds(evs []Event) []string {
	var k []string
	for _, e := range evs {
		s := string(e.Kind)
		if e.Zone != "" {
			s += ":" + e.Zone
		}
		if e.Line != "" {
			s += ":" + e.Line + ":" + e.Direction
		}
		k = append(k, s)
	}
	return k
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestPresenceHysteresis(t *testing.T) {
	d, err := NewDetector(Config{Camera: "cam", Frames: 3, LeftAfter: time.Second}, Geometry{})
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	steps = append(steps, repeat(2, step{5, 10, 10})...)   // two frames: not yet
	steps = append(steps, step{-5, 10, 10})                // flicker resets
	steps = append(steps, repeat(3, step{5, 10, 10})...)   // appeared on the 3rd
	steps = append(steps, repeat(2, step{-5, 10, 10})...)  // a 2-frame flicker is nothing
	steps = append(steps, repeat(4, step{0.2, 10, 10})...) // inside the margin: no change
	steps = append(steps, repeat(3, step{5, 10, 10})...)
	steps = append(steps, repeat(3, step{-5, 10, 10})...)  // occluded
	steps = append(steps, repeat(3, step{5, 10, 10})...)   // reappeared
	steps = append(steps, repeat(14, step{-5, 10, 10})...) // occluded, then left after 1s
	steps = append(steps, repeat(3, step{5, 10, 10})...)   // a new visit: appeared
	evs := feed(t, d, steps)
	want := []string{"appeared", "occluded", "reappeared", "occluded", "left", "appeared"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if evs[0].Frame != 5 || evs[0].PTSms != 500 || evs[0].Camera != "cam" || evs[0].Object != 1 || !evs[0].Wall.Equal(time.Unix(1000, 500e6)) {
		t.Errorf("appeared = %+v, want frame 5, pts 500ms", evs[0])
	}
	// Left comes LeftAfter (by PTS) after the object was first unseen.
	occ, left := evs[3], evs[4]
	if lost := time.Duration(left.PTSms-occ.PTSms) * time.Millisecond; lost < 800*time.Millisecond || lost > 1100*time.Millisecond {
		t.Errorf("left %v after occluded, want about 1s minus the 2 confirming frames", lost)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.ID != "cam:"+strconv.Itoa(i+1) {
			t.Errorf("event %d has seq %d id %q", i, e.Seq, e.ID)
		}
	}
}

func TestZoneEnterLeaveDwell(t *testing.T) {
	g := Geometry{Zones: []Zone{{Name: "door", Polygon: []Point{{100, 0}, {200, 0}, {200, 100}, {100, 100}}, DwellMs: 500}}}
	d, err := NewDetector(Config{Camera: "c", Frames: 2}, g)
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	steps = append(steps, repeat(3, step{5, 50, 50})...)     // appeared outside
	steps = append(steps, step{5, 150, 50}, step{5, 50, 50}) // one frame in: jitter, nothing
	steps = append(steps, repeat(10, step{5, 150, 50})...)   // entered, dwell after 500ms
	steps = append(steps, repeat(2, step{5, 250, 50})...)    // left the zone
	evs := feed(t, d, steps)
	want := []string{"appeared", "zone_enter:door", "dwell:door", "zone_leave:door"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	enter, dwell, leave := evs[1], evs[2], evs[3]
	if enter.Frame != 6 {
		t.Errorf("entered on frame %d, want 6 (second frame inside)", enter.Frame)
	}
	if dwell.DwellMs < 500 || dwell.Frame != 11 {
		t.Errorf("dwell %+v, want >= 500ms on frame 11", dwell)
	}
	if leave.DwellMs != leave.PTSms-enter.PTSms || leave.DwellMs != 1000 {
		t.Errorf("leave dwell %gms, want %gms", leave.DwellMs, leave.PTSms-enter.PTSms)
	}
}

func TestLineCrossingDirection(t *testing.T) {
	// A vertical line x=100 from top (A) to bottom (B).
	g := Geometry{Lines: []Line{{Name: "gate", A: Point{100, 0}, B: Point{100, 200}}}}
	d, err := NewDetector(Config{Camera: "c", Frames: 2}, g)
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	steps = append(steps, repeat(3, step{5, 50, 100})...)
	steps = append(steps, step{5, 101, 100}, step{5, 99, 100}) // jitter on the line: nothing
	steps = append(steps, repeat(3, step{5, 150, 100})...)     // crossed left to right
	steps = append(steps, repeat(3, step{5, 50, 100})...)      // and back
	steps = append(steps, repeat(3, step{5, 50, 300})...)      // walks below the line's end
	steps = append(steps, repeat(3, step{5, 150, 300})...)     // passes around B: no crossing
	evs := feed(t, d, steps)
	// Facing from A (top) to B (bottom), the right-hand side is x < 100.
	want := []string{"appeared", "line_cross:gate:out", "line_cross:gate:in"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestObjectMissingFromFramesLeaves(t *testing.T) {
	d, _ := NewDetector(Config{Camera: "c", Frames: 1, LeftAfter: 300 * time.Millisecond}, Geometry{})
	evs := d.Observe(Frame{Index: 0, Objects: []Observation{{Object: 7, Score: 3}}})
	for i := 1; i < 6; i++ {
		evs = append(evs, d.Observe(Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond})...)
	}
	if got := kinds(evs); !slices.Equal(got, []string{"appeared", "occluded", "left"}) {
		t.Fatalf("events %v", got)
	}
}

func TestGeometryValidate(t *testing.T) {
	bad := []Geometry{
		{Zones: []Zone{{Name: "", Polygon: []Point{{0, 0}, {1, 0}, {0, 1}}}}},
		{Zones: []Zone{{Name: "z", Polygon: []Point{{0, 0}, {1, 0}}}}},
		{Zones: []Zone{{Name: "z", Polygon: []Point{{0, 0}, {1, 0}, {0, 1}}}}, Lines: []Line{{Name: "z", A: Point{0, 0}, B: Point{1, 1}}}},
		{Lines: []Line{{Name: "l", A: Point{1, 1}, B: Point{1, 1}}}},
		{Lines: []Line{{Name: "l", A: Point{0, 0}, B: Point{1000, 1}}}},
	}
	for i, g := range bad {
		if err := g.Validate(320, 240); err == nil {
			t.Errorf("geometry %d accepted: %+v", i, g)
		}
	}
	ok := Geometry{Zones: []Zone{{Name: "z", Polygon: []Point{{0, 0}, {320, 0}, {0, 240}}}}, Lines: []Line{{Name: "l", A: Point{0, 0}, B: Point{10, 10}}}}
	if err := ok.Validate(320, 240); err != nil {
		t.Error(err)
	}
}
