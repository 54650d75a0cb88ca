package store

import "time"

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

// Point is a click in source-frame pixels.
type Point struct {
	X        float32 `json:"x"`
	Y        float32 `json:"y"`
	Positive bool    `json:"positive"`
}

// Box is a rectangle in source-frame pixels.
type Box struct {
	X0 float32 `json:"x0"`
	Y0 float32 `json:"y0"`
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
}

// RLE is a COCO run-length encoded binary mask: Size is [height, width]
// and Counts the compressed count string, as pycocotools writes them.
type RLE struct {
	Size   [2]int `json:"size"`
	Counts string `json:"counts"`
}

// Prompt is one user instruction about one object on one frame, kept in
// the order it was given so that replaying the log rebuilds the session.
type Prompt struct {
	// Seq is the prompt's position in the session's log, set by AddPrompt.
	Seq    uint64  `json:"seq"`
	Frame  int     `json:"frame"`
	Object int     `json:"object"`
	Points []Point `json:"points,omitempty"`
	Box    *Box    `json:"box,omitempty"`
	Mask   *RLE    `json:"mask,omitempty"`
	// Time is when the prompt was stored.
	Time time.Time `json:"time"`
}

// FrameObject is one object's finished result on one frame.
type FrameObject struct {
	Object      int     `json:"object"`
	Mask        RLE     `json:"mask"`
	Box         *Box    `json:"box,omitempty"`
	IoU         float32 `json:"iou"`
	ObjectScore float32 `json:"object_score"`
	Present     bool    `json:"present"`
}

// Frame is the finished output of one frame: every object's mask.
type Frame struct {
	Index   int           `json:"index"`
	Objects []FrameObject `json:"objects"`
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
