package stream

import (
	"fmt"
	"time"

	"github.com/vidseg/vidseg/encode"
)

// VideoEncoder adapts an encode.Encoder (libvpx or libx264, realtime
// settings) to the Broadcaster. It is not safe for concurrent use; the
// Broadcaster's WriteFrame caller owns it.
type VideoEncoder struct {
	e *encode.Encoder
}

// NewVideoEncoder opens an encoder; Close it when the session ends.
func NewVideoEncoder(opts encode.Options) (*VideoEncoder, error) {
	e, err := encode.NewEncoder(opts)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return &VideoEncoder{e: e}, nil
}

// Encode compresses one RGB24 frame.
func (v *VideoEncoder) Encode(rgb []byte, pts time.Duration) ([]Packet, error) {
	ps, err := v.e.Encode(rgb, pts)
	if err != nil {
		return nil, err
	}
	out := make([]Packet, len(ps))
	for i, p := range ps {
		out[i] = Packet{Data: p.Data, PTS: p.PTS, Keyframe: p.Keyframe}
	}
	return out, nil
}

// ForceKeyframe makes the next frame a keyframe.
func (v *VideoEncoder) ForceKeyframe() { v.e.ForceKeyframe() }

// Close frees the FFmpeg encoder.
func (v *VideoEncoder) Close() error { return v.e.Close() }
