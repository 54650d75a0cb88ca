package decode

import (
	"context"
	"fmt"
	"time"

	"github.com/vidseg/vidseg/video"
)

// Source gives random access to a video file (tracker.FrameSource):
// sequential reads go straight through the decoder, jumps Seek, and the
// last few frames stay cached because prompts and the start of a tracking
// pass revisit them. Like the Decoder, it is not safe for concurrent use.
type Source struct {
	dec   *Decoder
	next  int // index the decoder returns on its next Next
	limit int // frames past this are out of range (0: no limit)
	cache []*video.Frame
	size  int
	pts   map[int]time.Duration // source timestamp of every frame read
	stats SourceStats
}

// SourceStats counts a Source's work.
type SourceStats struct {
	Reads int           // frames decoded
	Seeks int           // jumps
	Time  time.Duration // spent seeking and decoding
}

// Stats returns the work done so far.
func (s *Source) Stats() SourceStats { return s.stats }

// NewSource reads frames 0..limit-1 (all when limit is 0) of dec, keeping
// the last cacheSize frames. dec must not be used by anyone else.
func NewSource(dec *Decoder, limit, cacheSize int) *Source {
	return &Source{dec: dec, limit: limit, size: max(cacheSize, 1), pts: map[int]time.Duration{}}
}

// PTS is the source timestamp of a frame already read.
func (s *Source) PTS(index int) (time.Duration, bool) {
	pts, ok := s.pts[index]
	return pts, ok
}

// Frame returns frame index. The frame stays valid; do not Release it (the
// cache may hand it out again).
func (s *Source) Frame(ctx context.Context, index int) (*video.Frame, error) {
	if index < 0 || (s.limit > 0 && index >= s.limit) {
		return nil, fmt.Errorf("frame %d out of range (0..%d)", index, s.limit-1)
	}
	for _, f := range s.cache {
		if f.Index == index {
			return f, nil
		}
	}
	start := time.Now()
	defer func() { s.stats.Time += time.Since(start) }()
	if index != s.next {
		if err := s.dec.Seek(ctx, index); err != nil {
			return nil, fmt.Errorf("seek to frame %d: %w", index, err)
		}
		s.stats.Seeks++
		s.next = index
	}
	f, err := s.dec.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("read frame %d: %w", index, err)
	}
	s.stats.Reads++
	s.next = f.Index + 1
	s.pts[f.Index] = f.PTS
	if f.Index != index {
		return nil, fmt.Errorf("read frame %d: decoder returned frame %d", index, f.Index)
	}
	if len(s.cache) == s.size {
		// Evicted frames are left to the garbage collector: the tracker
		// may still read one it was handed.
		copy(s.cache, s.cache[1:])
		s.cache = s.cache[:len(s.cache)-1]
	}
	s.cache = append(s.cache, f)
	return f, nil
}

// RestartClock re-anchors Realtime pacing on the frame returned last, as
// if it was returned now: a caller that held the stream (waiting for a
// viewer) gets the following frames at the source pace, not in a
// catch-up burst.
func (d *Decoder) RestartClock() { d.clockStart, d.clockPTS = time.Now(), d.lastRel+d.loopOff }

// CountFrames reads the container's packet timestamps (no decoding; Seek
// reads the same table) and returns the exact number of frames. It leaves
// the decoder at frame 0.
func (d *Decoder) CountFrames(ctx context.Context) (int, error) {
	if err := d.Seek(ctx, 0); err != nil {
		return 0, err
	}
	return len(d.ptsTable), nil
}
