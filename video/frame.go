// Package video holds the decoded-frame type and its normalization for the
// model: the pure-Go side of decoding, usable without cgo (decode produces
// Frames; tracker, stream and web consume them).
package video

import (
	"errors"
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
	Model         []byte        // rgb24 ModelSize x ModelSize (aspect not kept), or nil; see LoadModel

	pool     *Pool
	deferred *deferredModel
}

// deferredModel is a Model copy not made yet (DeferModel).
type deferredModel struct {
	mu   sync.Mutex
	size int
	fill func(dst []byte) error
	drop func()
	done bool
	err  error // why fill failed, for later LoadModel calls
}

// DeferModel leaves the frame's Model copy (size x size rgb24) to be made by
// fill when LoadModel asks for it, for a producer whose consumer takes few of
// its frames (a live session's model takes the newest when it is free).
// drop releases what fill needs; it runs once, after fill or from DropModel
// or Release, whichever comes first.
func (f *Frame) DeferModel(size int, fill func(dst []byte) error, drop func()) {
	f.deferred = &deferredModel{size: size, fill: fill, drop: drop}
}

// LoadModel makes the Model copy DeferModel left, once; for other frames it
// does nothing. It may run on another goroutine than the one that reads RGB.
func (f *Frame) LoadModel() error {
	if f == nil || f.deferred == nil {
		return nil
	}
	d := f.deferred
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		if d.err != nil {
			return d.err
		}
		if f.Model == nil {
			return errors.New("video: frame's model copy was dropped before it was loaded")
		}
		return nil
	}
	d.done = true
	defer d.drop()
	n := d.size * d.size * 3
	var buf []byte
	if f.pool != nil {
		buf = f.pool.Get(n)
	} else {
		buf = make([]byte, n)
	}
	if err := d.fill(buf); err != nil {
		if f.pool != nil {
			f.pool.Put(buf)
		}
		d.err = err
		return err
	}
	f.Model = buf
	return nil
}

// DropModel gives up a deferred Model copy that was not loaded, releasing
// what it held; a loaded copy stays.
func (f *Frame) DropModel() {
	if f == nil || f.deferred == nil {
		return
	}
	d := f.deferred
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.done {
		d.done = true
		d.drop()
	}
}

// Release returns the frame's buffers to its Pool for reuse. The frame
// must not be used afterwards. Calling it twice is harmless.
func (f *Frame) Release() {
	f.DropModel()
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
