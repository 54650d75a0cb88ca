package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vidseg/vidseg/decode"
)

// fileSource gives the tracker random access to a video file: sequential
// reads go straight through the decoder, jumps Seek, and the last few
// frames stay cached because prompts and the start of a pass revisit them.
type fileSource struct {
	dec   *decode.Decoder
	next  int // index the decoder returns on its next Next
	limit int // frames past this are out of range (0: no limit)
	cache []*decode.Frame
	size  int
	reads int // frames decoded, for tests and stats
	seeks int
	pts   map[int]time.Duration // source timestamp of every frame read
}

func newFileSource(dec *decode.Decoder, limit, cacheSize int) *fileSource {
	return &fileSource{dec: dec, limit: limit, size: max(cacheSize, 1), pts: map[int]time.Duration{}}
}

// PTS is the source timestamp of a frame already read.
func (s *fileSource) PTS(index int) (time.Duration, bool) {
	pts, ok := s.pts[index]
	return pts, ok
}

// Frame implements tracker.FrameSource.
func (s *fileSource) Frame(ctx context.Context, index int) (*decode.Frame, error) {
	if index < 0 || (s.limit > 0 && index >= s.limit) {
		return nil, fmt.Errorf("frame %d out of range (0..%d)", index, s.limit-1)
	}
	for _, f := range s.cache {
		if f.Index == index {
			return f, nil
		}
	}
	if index != s.next {
		if err := s.dec.Seek(ctx, index); err != nil {
			return nil, fmt.Errorf("seek to frame %d: %w", index, err)
		}
		s.seeks++
		s.next = index
	}
	f, err := s.dec.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("read frame %d: %w", index, err)
	}
	s.reads++
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
