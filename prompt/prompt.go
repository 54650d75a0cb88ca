// Package prompt is what a user says about an object: clicks, a box or a
// mask on one frame. The tracker, the web API and the session store share
// these types (pure Go, so the store needs no cgo), and the command line
// syntax for them is parsed here.
package prompt

import "github.com/vidseg/vidseg/mask"

// Point is a click in source-frame pixels.
type Point struct {
	X        float32 `json:"x"`
	Y        float32 `json:"y"`
	Positive bool    `json:"positive"`
}

// Prompt is what a user says about one object on one frame. Points and Box
// may be combined (the box first, as SAM 2 is trained); Mask stands alone.
type Prompt struct {
	Frame  int       `json:"frame"`
	Object int       `json:"object"` // object id chosen by the caller; a new id adds an object
	Points []Point   `json:"points,omitempty"`
	Box    *mask.Box `json:"box,omitempty"`
	// Mask is a source-size binary mask.
	Mask *mask.RLE `json:"mask,omitempty"`
	// Append adds Points to the object's earlier points on this frame
	// instead of replacing them (SAM 2's clear_old_points=False).
	Append bool `json:"append,omitempty"`
	// Candidate, alone, keeps another of the mask decoder's candidates
	// (token 0..3) of the object's last point or box prompt on this
	// frame: SAM's several answers to an ambiguous click.
	Candidate *int `json:"candidate,omitempty"`
}

// Empty reports whether p says nothing: no points, box, mask or
// candidate.
func (p *Prompt) Empty() bool {
	return len(p.Points) == 0 && p.Box == nil && p.Mask == nil && p.Candidate == nil
}
