package store

import (
	"time"

	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
)

// Info describes a session: what is being segmented and how.
type Info struct {
	ID string `json:"id"`
	// Source is what the session reads: a file path or a stream URL.
	Source  string    `json:"source"`
	Width   int       `json:"width,omitempty"`
	Height  int       `json:"height,omitempty"`
	FPS     float64   `json:"fps,omitempty"`
	Frames  int       `json:"frames,omitempty"` // total frames in the source, 0 when unknown (live)
	Mode    string    `json:"mode,omitempty"`   // tracker mode, "samurai" or "sam2"
	Model   string    `json:"model,omitempty"`  // model variant or directory
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Meta holds free-form settings of the caller (codec, provider, ...).
	Meta map[string]string `json:"meta,omitempty"`
}

// Object is one tracked object of a session.
type Object struct {
	ID    int    `json:"id"`
	Label string `json:"label,omitempty"`
}

// Prompt is one user instruction about one object on one frame, kept in
// the order it was given so that replaying the log rebuilds the session.
type Prompt struct {
	// Seq is the prompt's position in the session's log, set by AddPrompt.
	Seq uint64 `json:"seq"`
	prompt.Prompt
	// Time is when the prompt was stored.
	Time time.Time `json:"time"`
}

// FrameObject is one object's finished result on one frame.
type FrameObject struct {
	Object      int       `json:"object"`
	Mask        mask.RLE  `json:"mask"`
	Box         *mask.Box `json:"box,omitempty"`
	IoU         float32   `json:"iou"`
	ObjectScore float32   `json:"object_score"`
	Present     bool      `json:"present"`
}

// Frame is the finished output of one frame: every object's mask.
type Frame struct {
	Index   int           `json:"index"`
	Objects []FrameObject `json:"objects"`
	// Gen is the session's frame generation the frame was stored in (set
	// by the store). Stale, set when a frame is read, says a correction
	// (AddEditPrompt) came after it: an edit session shows it until the
	// next pass replaces it.
	Gen   uint64 `json:"gen,omitempty"`
	Stale bool   `json:"stale,omitempty"`
}

// Session is everything stored about a session except its frames, which
// can be many: read those with Store.Frames or Store.Frame.
type Session struct {
	Info    Info     `json:"info"`
	Objects []Object `json:"objects"`
	Prompts []Prompt `json:"prompts"`
	// FrameCount is the number of finished frames stored.
	FrameCount int `json:"frame_count"`
	// LastFrame is the highest finished frame index, -1 when none.
	LastFrame int `json:"last_frame"`
}
