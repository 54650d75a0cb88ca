package decode

import (
	"sync"
	"time"
)

// Frame is one decoded picture. It owns its buffers: it stays valid after
// later Next calls and may be handed to other goroutines. Call Release when
// done to let the Decoder reuse the buffers (optional; without it they are
// garbage collected).
type Frame struct {
	Index         int           // decoded-frame counter from 0 (after Seek, the sought index)
	PTS           time.Duration // presentation time from the stream start (keeps growing across Loop restarts)
	Width, Height int           // size of RGB
	RGB           []byte        // packed rgb24, stride Width*3
	Model         []byte        // rgb24 ModelSize x ModelSize (aspect not kept), or nil

	pools *bufPools
}

// Release returns the frame's buffers to its Decoder for reuse. The frame
// must not be used afterwards. Calling it twice is harmless.
func (f *Frame) Release() {
	if f == nil || f.pools == nil {
		return
	}
	f.pools.put(f.RGB)
	f.pools.put(f.Model)
	f.RGB, f.Model, f.pools = nil, nil, nil
}

// bufPools recycles byte buffers by exact length (source RGB and model RGB).
type bufPools struct {
	mu    sync.Mutex
	pools map[int]*sync.Pool
}

func (p *bufPools) pool(n int) *sync.Pool {
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

func (p *bufPools) get(n int) []byte {
	return *(p.pool(n).Get().(*[]byte))
}

func (p *bufPools) put(b []byte) {
	if len(b) == 0 {
		return
	}
	p.pool(len(b)).Put(&b)
}
