package prompt

import (
	"errors"
	"fmt"
	"math"
)

// MaxPoints caps the clicks on one object on one frame, in one prompt and
// added up over corrections. The mask decoder's cost grows with the square
// of its prompt tokens (2,000 points took 0.3 GB more, 6,000 2 GB), while
// the SAM 2 demo's interaction needs a few clicks and a careful user a few
// dozen: 64 leaves room for that and keeps a prompt's cost at a click's.
const MaxPoints = 64

// maxMaskRunsExtra bounds a mask prompt's runs: a frame's mask needs at
// most width*height+1 of them; more are zero-length runs, only work.
const maxMaskRunsExtra = 1

// ErrInvalid is a prompt that breaks the limits or says something
// impossible (a non-finite coordinate, a mask of the wrong size, a mask
// with points); the tracker never sees it.
var ErrInvalid = errors.New("invalid prompt")

// Check reports whether p is within the limits every entry point applies
// (the web API, the command line, a cluster's prompts, a stored prompt
// replayed at resume): at most MaxPoints points, finite coordinates, at
// most one box (the type allows no more), and a mask alone, sized
// width x height and covering it exactly. A zero width or height skips
// the size checks (the frame size is not known yet).
func (p *Prompt) Check(width, height int) error {
	if p.Object < 0 {
		return fmt.Errorf("%w: object id %d is negative", ErrInvalid, p.Object)
	}
	if n := len(p.Points); n > MaxPoints {
		return fmt.Errorf("%w: %d points on object %d, at most %d per object and frame", ErrInvalid, n, p.Object, MaxPoints)
	}
	for i, pt := range p.Points {
		if !finite(pt.X) || !finite(pt.Y) {
			return fmt.Errorf("%w: point %d (%g,%g) is not a number", ErrInvalid, i, pt.X, pt.Y)
		}
	}
	if b := p.Box; b != nil && (!finite(b.X0) || !finite(b.Y0) || !finite(b.X1) || !finite(b.Y1)) {
		return fmt.Errorf("%w: box (%g,%g)-(%g,%g) is not a number", ErrInvalid, b.X0, b.Y0, b.X1, b.Y1)
	}
	if c := p.Candidate; c != nil {
		if len(p.Points) > 0 || p.Box != nil || p.Mask != nil {
			return fmt.Errorf("%w: a candidate stands alone, without points, box or mask", ErrInvalid)
		}
		if *c < 0 || *c > 3 {
			return fmt.Errorf("%w: candidate %d: want a decoder token 0..3", ErrInvalid, *c)
		}
	}
	m := p.Mask
	if m == nil {
		return nil
	}
	if len(p.Points) > 0 || p.Box != nil {
		return fmt.Errorf("%w: a mask cannot be combined with points or a box", ErrInvalid)
	}
	if width > 0 && height > 0 && (m.Width != width || m.Height != height) {
		return fmt.Errorf("%w: mask size [%d %d], the video is [%d %d] (height, width)", ErrInvalid, m.Height, m.Width, height, width)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(m.Counts) > m.Width*m.Height+maxMaskRunsExtra {
		return fmt.Errorf("%w: mask has %d runs for %d pixels", ErrInvalid, len(m.Counts), m.Width*m.Height)
	}
	return nil
}

// CheckAdded reports whether n more points fit on an object and frame that
// has had points already.
func CheckAdded(object, frame, had, n int) error {
	if had+n > MaxPoints {
		return fmt.Errorf("%w: object %d has %d points on frame %d; %d more would pass the limit of %d per object and frame (remove the object and start again)",
			ErrInvalid, object, had, frame, n, MaxPoints)
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
