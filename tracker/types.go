package tracker

import (
	"fmt"

	"github.com/vidseg/vidseg/mask"
)

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

// ObjectResult is one object's output on one frame.
type ObjectResult struct {
	Object int
	// Mask is the object's binary mask at the source size (Width*Height
	// bytes, 1 = object): the chosen logits upsampled and thresholded once,
	// here, for every consumer.
	Mask []byte
	// RLE is Mask run-length encoded as COCO does.
	RLE mask.RLE
	// Box is the bounding box of the mask in source pixels, X1 and Y1
	// exclusive (zero when empty).
	Box mask.Box
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
	// Candidates are every mask the decoder returned for a point or box
	// prompt (tokens 0..3), on the prompted object of Prompt's answer
	// only: SAM's answer to an ambiguous click, for the user to pick
	// another (Candidate is the one chosen).
	Candidates []Candidate

	// logits are the chosen low-resolution mask logits (MaskSize x
	// MaskSize); -1024 everywhere when the object is judged absent.
	logits []float32
}

// Candidate is one decoder output of a prompt.
type Candidate struct {
	Token int      // 0 single-mask, 1..3 multimask
	IoU   float32  // predicted IoU
	RLE   mask.RLE // source-size binary mask, thresholded at 0 as the chosen one
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
