package stream

import "time"

// Pacer keeps a live picture at the source's pace when the consumer
// (compositing and encoding) is slower than the source: a frame is late,
// and should be skipped, once the next frame is already due. It anchors
// presentation times to the wall clock on the first frame and re-anchors
// after a jump (a loop restart, a stalled network source).
type Pacer struct {
	frame      time.Duration
	anchorWall time.Time
	anchorPTS  time.Duration
}

// maxDrift is how far behind or ahead the source may run before the pacer
// re-anchors instead of skipping.
const maxDrift = 2 * time.Second

// NewPacer returns a Pacer for a source of the given nominal frame rate.
func NewPacer(fps float64) *Pacer {
	if fps <= 0 || fps > 1000 {
		fps = 30
	}
	return &Pacer{frame: time.Duration(float64(time.Second) / fps)}
}

// Late reports whether the frame shown at pts should be skipped at now.
func (p *Pacer) Late(pts time.Duration, now time.Time) bool {
	if p.anchorWall.IsZero() || pts < p.anchorPTS {
		p.anchor(pts, now)
		return false
	}
	behind := now.Sub(p.anchorWall.Add(pts - p.anchorPTS))
	if behind > maxDrift || behind < -maxDrift {
		p.anchor(pts, now)
		return false
	}
	return behind > p.frame
}

func (p *Pacer) anchor(pts time.Duration, now time.Time) {
	p.anchorWall, p.anchorPTS = now, pts
}
