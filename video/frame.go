// Package video holds the decoded-frame type and its normalization for the
// model: the pure-Go side of decoding, usable without cgo (decode produces
// Frames; tracker, stream and web consume them).
package video

import (
	"sync"
	"time"
)

// Frame is one decoded picture. It owns its buffers: it stays valid after
// later decoder calls and may be handed to other goroutines. Call Release
// when done to let the producer reuse the buffers (optional; without it they
// are garbage collected).
type Frame struct {
	Index         int           // decoded-frame counter from 0 (after Seek, the sought index)
	PTS           time.Duration // presentation time from the stream start (keeps growing across Loop restarts)
	Width, Height int           // size of RGB
	RGB           []byte        // packed rgb24, stride Width*3
	Model         []byte        // rgb24 ModelSize x ModelSize (aspect not kept), or nil

	pool *Pool
}

// Release returns the frame's buffers to its Pool for reuse. The frame
// must not be used afterwards. Calling it twice is harmless.
func (f *Frame) Release() {
	if f == nil || f.pool == nil {
		return
	}
	f.pool.Put(f.RGB)
	f.pool.Put(f.Model)
	f.RGB, f.Model, f.pool = nil, nil, nil
}

// Pool recycles frame buffers by exact length (source RGB and model RGB).
// The zero value is ready to use.
type Pool struct {
	mu    sync.Mutex
	pools map[int]*sync.Pool
}

// NewFrame returns a frame whose RGB buffer (width*height*3 bytes) and, when
// modelSize > 0, Model buffer (modelSize*modelSize*3 bytes) come from p; its
// Release gives them back. Buffer contents are undefined.
func (p *Pool) NewFrame(index int, pts time.Duration, width, height, modelSize int) *Frame {
	f := &Frame{Index: index, PTS: pts, Width: width, Height: height, pool: p}
	f.RGB = p.Get(width * height * 3)
	if modelSize > 0 {
		f.Model = p.Get(modelSize * modelSize * 3)
	}
	return f
}

func (p *Pool) pool(n int) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools == nil {
		p.pools = make(map[int]*sync.Pool)
	}
	sp := p.pools[n]
	if sp == nil {
		sp = &sync.Pool{New: func() any { b := make([]byte, n); return &b }}
		p.pools[n] = sp
	}
	return sp
}

// Get returns a buffer of n bytes (contents undefined) from the pool.
func (p *Pool) Get(n int) []byte {
	return *(p.pool(n).Get().(*[]byte))
}

// Put gives b back to the pool.
func (p *Pool) Put(b []byte) {
	if len(b) == 0 {
		return
	}
	p.pool(len(b)).Put(&b)
}
