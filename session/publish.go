package session

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// Each session streams two tracks, each encoded only while someone
// watches it: the burned-in one (masks composited into the picture, for
// plain WHEP players that have no page) and a clean one for the page,
// which draws the masks itself from the DataChannel's RLE, so each viewer
// can hide, recolour or outline objects without touching the shared video.
// POST .../whep?overlay=none picks the clean track.

// Burned is the track with the masks composited into the picture.
func (s *Session) Burned() *stream.Broadcaster { return s.b }

// Clean is the track without masks, for the page that draws them.
func (s *Session) Clean() *stream.Broadcaster { return s.clean }

// viewers counts the viewers of both tracks.
func (s *Session) viewers() int {
	return s.b.Stats().Viewers + s.clean.Stats().Viewers
}

// publish sends one picture to whoever watches: as it is to the clean
// track, with masks() composited to the burned-in one, and then
// meta(the time the picture was handed over) to the DataChannels of both.
// It reports whether anything was sent.
func (s *Session) publish(f *video.Frame, pts time.Duration, meta func(sent time.Time) stream.FrameMeta, masks func() []overlay.ObjectMask) (bool, error) {
	burned, clean := s.b.Stats().Viewers > 0, s.clean.Stats().Viewers > 0
	if !burned && !clean {
		return false, nil
	}
	w, h := s.Info.Width, s.Info.Height
	pts = s.streamPTS(pts)
	if f.Width != w || f.Height != h || len(f.RGB) != w*h*3 {
		return false, fmt.Errorf("frame %d is %dx%d, the stream is %dx%d", f.Index, f.Width, f.Height, w, h)
	}
	if clean {
		if err := s.clean.WriteFrame(f.RGB, pts); err != nil {
			return false, err
		}
	}
	if burned {
		if len(s.burnBuf) != len(f.RGB) {
			s.burnBuf = make([]byte, len(f.RGB))
		}
		copy(s.burnBuf, f.RGB)
		if m := masks(); len(m) > 0 {
			if err := overlay.Composite(s.burnBuf, w, h, m); err != nil {
				return false, err
			}
		}
		if err := s.b.WriteFrame(s.burnBuf, pts); err != nil {
			return false, err
		}
	}
	m := meta(time.Now())
	if m.Objects == nil {
		m.Objects = []stream.ObjectMeta{}
	}
	m.Type, m.Width, m.Height = "frame", w, h
	// The page matches streamMs to the picture it presents through the RTP
	// timestamp (streamMs * 90); ptsMs stays the source's own timestamp.
	m.PTSms, m.StreamMs = ms(f.PTS), ms(pts)
	msg, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("frame %d metadata: %w", f.Index, err)
	}
	if burned {
		s.b.Send(msg)
	}
	if clean {
		s.clean.Send(msg)
	}
	return true, nil
}

// objectMetas turns a model result into the metadata (with source-size
// COCO RLE) the DataChannel carries and the masks to burn in.
func (s *Session) objectMetas(res *tracker.FrameResult) ([]stream.ObjectMeta, []overlay.ObjectMask) {
	w, h := s.Info.Width, s.Info.Height
	var metas []stream.ObjectMeta
	var masks []overlay.ObjectMask
	for _, o := range res.Objects {
		om := stream.ObjectMeta{
			ID: o.Object, Color: overlay.Color(o.Object), Present: o.Present(),
			Box: [4]float32{o.Box.X0, o.Box.Y0, o.Box.X1, o.Box.Y1}, IoU: finite(o.IoU), Score: finite(o.ObjectScore),
		}
		if len(o.Mask) == w*h {
			rle := o.RLE
			om.RLE = &rle
			if o.Present() {
				masks = append(masks, overlay.ObjectMask{ID: o.Object, Mask: o.Mask})
			}
		}
		metas = append(metas, om)
	}
	return metas, masks
}

// decodeMasks turns the present objects' RLE back into masks to burn in.
func decodeMasks(objs []stream.ObjectMeta) []overlay.ObjectMask {
	var out []overlay.ObjectMask
	for _, o := range objs {
		if !o.Present || o.RLE == nil {
			continue
		}
		m, err := o.RLE.Decode()
		if err != nil {
			continue
		}
		out = append(out, overlay.ObjectMask{ID: o.ID, Mask: m})
	}
	return out
}

// waitViewer holds a file session on its first frame until someone
// watches, so a short clip cannot end before anyone has seen it.
func (s *Session) waitViewer(ctx context.Context) error {
	if s.viewers() > 0 {
		return nil
	}
	s.setState("waiting for a viewer")
	defer s.setState("playing")
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.viewers() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (s *Session) setState(st string) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

// streamPTS rounds pts to the encoders' time base (1/fps) the way they
// do, one tick later than the last picture at least, so the PTS in the
// metadata is exactly the one the RTP timestamp is made from.
func (s *Session) streamPTS(pts time.Duration) time.Duration {
	t := int64(math.Round(pts.Seconds() * s.encFPS))
	if s.ticked && t <= s.lastTick {
		t = s.lastTick + 1
	}
	s.lastTick, s.ticked = t, true
	return time.Duration(math.Round(float64(t) / s.encFPS * float64(time.Second)))
}
