package tracker

import "fmt"

// Mode picks how each frame's candidate mask is chosen and which frames
// enter memory.
type Mode int

const (
	// SAMURAI scores candidates with a per-object Kalman filter and gates
	// memory by motion and quality (the default).
	SAMURAI Mode = iota
	// SAM2 reproduces the reference SAM 2 video predictor.
	SAM2
)

func (m Mode) String() string {
	switch m {
	case SAMURAI:
		return "samurai"
	case SAM2:
		return "sam2"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "samurai" or "sam2".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "samurai", "":
		return SAMURAI, nil
	case "sam2":
		return SAM2, nil
	}
	return 0, fmt.Errorf("tracker: unknown mode %q (want samurai or sam2)", s)
}

// Point is a click in source-frame pixels.
type Point struct {
	X, Y     float32
	Positive bool
}

// Box is a rectangle in source-frame pixels, corners inclusive of X0,Y0.
type Box struct {
	X0, Y0, X1, Y1 float32
}

// Prompt is what a user says about one object on one frame. Points and Box
// may be combined (the box first, as SAM 2 is trained); Mask stands alone.
type Prompt struct {
	Frame  int
	Object int // object id chosen by the caller; a new id adds an object
	Points []Point
	Box    *Box
	// Mask is a source-size binary mask (row-major, nonzero = object).
	Mask []byte
	// Append adds Points to the object's earlier points on this frame
	// instead of replacing them (SAM 2's clear_old_points=False).
	Append bool
}

// ObjectResult is one object's output on one frame.
type ObjectResult struct {
	Object int
	// Logits are the chosen low-resolution mask logits (MaskSize x MaskSize);
	// -1024 everywhere when the object is judged absent.
	Logits []float32
	// Box is the bounding box of the mask in source pixels (zero when empty).
	Box Box
	// IoU is the decoder's predicted IoU of the chosen candidate.
	IoU float32
	// ObjectScore is the object-presence logit; > 0 means present.
	ObjectScore float32
	// Candidate is the decoder token chosen: 0 single-mask, 1..3 multimask.
	Candidate int
	// KalmanScore is the IoU of the Kalman-predicted box with the chosen
	// candidate's box (SAMURAI mode, 0 before the filter is stable).
	KalmanScore float32
	// Conditioning reports that this frame carries the object's prompts.
	Conditioning bool
	// Visible reports whether the object was judged present: ObjectScore
	// above 0 (SAM 2) or above SAMURAI's occlusion threshold.
	Visible bool
}

// Present reports whether the object was judged visible.
func (r *ObjectResult) Present() bool { return r.Visible }

// FrameResult holds every tracked object's output on one frame.
type FrameResult struct {
	Frame   int
	Width   int // source width
	Height  int // source height
	Objects []ObjectResult
}
