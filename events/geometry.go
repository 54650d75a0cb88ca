package events

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Point is a position in source-frame pixels.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Zone is a polygon region of interest.
type Zone struct {
	Name    string  `json:"name"`
	Polygon []Point `json:"polygon"`
	// Dwell, when > 0, raises one Dwell event per visit that lasts longer.
	DwellMs float64 `json:"dwellMs,omitempty"`
}

// Line is a tripwire from A to B.
type Line struct {
	Name string `json:"name"`
	A    Point  `json:"a"`
	B    Point  `json:"b"`
}

// Geometry is a camera's zones and lines.
type Geometry struct {
	Zones []Zone `json:"zones"`
	Lines []Line `json:"lines"`
}

// Limits on what a client may configure, so one request cannot make every
// frame costly.
const (
	MaxZones         = 32
	MaxLines         = 32
	MaxPolygonPoints = 64
	maxName          = 64
)

// ErrGeometry marks an invalid zone or line.
var ErrGeometry = errors.New("invalid zones or lines")

// Validate checks g against a frame of width x height (0: unchecked):
// unique non-empty names, polygons of 3..MaxPolygonPoints finite points,
// lines of two distinct points.
func (g Geometry) Validate(width, height int) error {
	if len(g.Zones) > MaxZones || len(g.Lines) > MaxLines {
		return fmt.Errorf("%w: %d zones and %d lines, at most %d and %d", ErrGeometry, len(g.Zones), len(g.Lines), MaxZones, MaxLines)
	}
	names := make(map[string]bool)
	name := func(what, n string) error {
		switch {
		case n == "":
			return fmt.Errorf("%w: a %s has no name", ErrGeometry, what)
		case len(n) > maxName:
			return fmt.Errorf("%w: %s name longer than %d bytes", ErrGeometry, what, maxName)
		case names[n]:
			return fmt.Errorf("%w: name %q used twice", ErrGeometry, n)
		}
		names[n] = true
		return nil
	}
	point := func(what string, p Point) error {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			return fmt.Errorf("%w: %s has a non-finite point", ErrGeometry, what)
		}
		if width > 0 && height > 0 && (p.X < 0 || p.Y < 0 || p.X > float64(width) || p.Y > float64(height)) {
			return fmt.Errorf("%w: %s point (%g,%g) is outside the %dx%d frame", ErrGeometry, what, p.X, p.Y, width, height)
		}
		return nil
	}
	for _, z := range g.Zones {
		if err := name("zone", z.Name); err != nil {
			return err
		}
		if n := len(z.Polygon); n < 3 || n > MaxPolygonPoints {
			return fmt.Errorf("%w: zone %q has %d points, want 3..%d", ErrGeometry, z.Name, n, MaxPolygonPoints)
		}
		for _, p := range z.Polygon {
			if err := point("zone "+z.Name, p); err != nil {
				return err
			}
		}
		if z.DwellMs < 0 || math.IsNaN(z.DwellMs) || z.DwellMs > float64(24*time.Hour/time.Millisecond) {
			return fmt.Errorf("%w: zone %q dwellMs %g out of range", ErrGeometry, z.Name, z.DwellMs)
		}
	}
	for _, l := range g.Lines {
		if err := name("line", l.Name); err != nil {
			return err
		}
		if err := point("line "+l.Name, l.A); err != nil {
			return err
		}
		if err := point("line "+l.Name, l.B); err != nil {
			return err
		}
		if l.A == l.B {
			return fmt.Errorf("%w: line %q has both ends at (%g,%g)", ErrGeometry, l.Name, l.A.X, l.A.Y)
		}
	}
	return nil
}

// contains reports whether p lies inside the polygon (even-odd rule).
func contains(poly []Point, p Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

// side is the sign of p relative to the directed line a->b: +1 right of it
// in image coordinates (y down), -1 left, 0 on it.
func side(a, b, p Point) int {
	c := (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X)
	switch {
	case c > 0:
		return 1
	case c < 0:
		return -1
	}
	return 0
}

// crosses reports whether segment p->q meets segment a-b.
func crosses(a, b, p, q Point) bool {
	return side(a, b, p) != side(a, b, q) && side(p, q, a) != side(p, q, b)
}
