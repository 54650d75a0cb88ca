package stream

import "github.com/vidseg/vidseg/mask"

// FrameMeta is the DataChannel message sent with every video frame, as JSON.
type FrameMeta struct {
	Type      string  `json:"type"`      // always "frame"
	Frame     int     `json:"frame"`     // source frame index of the picture sent
	MaskFrame int     `json:"maskFrame"` // frame the masks were computed on; -1 for none
	PTSms     float64 `json:"ptsMs"`     // the source's timestamp of the picture
	// StreamMs is the picture's timestamp in the WebRTC stream (its RTP
	// timestamp / 90): PTSms rounded to the encoder's 1/fps time base,
	// which is what a page matches presented pictures against.
	StreamMs  float64 `json:"streamMs"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	SourceFPS float64 `json:"sourceFps"` // frames sent per second
	ModelFPS  float64 `json:"modelFps"`  // frames the model finished per second
	// LatencyMs is decode -> sent for this picture; ModelLatencyMs is decode
	// of the mask frame -> its masks first sent (smoothed).
	LatencyMs      float64      `json:"latencyMs"`
	ModelLatencyMs float64      `json:"modelLatencyMs"`
	DecodedAt      int64        `json:"decodedAtUnixMs"`
	SentAt         int64        `json:"sentAtUnixMs"`
	Objects        []ObjectMeta `json:"objects"`
}

// ObjectMeta is one object's result in a FrameMeta.
type ObjectMeta struct {
	ID      int        `json:"id"`
	Color   [3]uint8   `json:"color"`
	Present bool       `json:"present"`
	RLE     *mask.RLE  `json:"rle,omitempty"`
	Box     [4]float32 `json:"box"` // x0, y0, x1, y1 in source pixels
	IoU     float32    `json:"iou"`
	Score   float32    `json:"objectScore"`
}
