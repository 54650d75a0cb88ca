package decode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vidseg/vidseg/video"
)

// ErrSourceLost: a live source stayed unreachable longer than
// ReconnectOptions.GiveUpAfter.
var ErrSourceLost = errors.New("live source lost")

// ReconnectOptions configure a Reconnecting source. Zero fields take the
// defaults in brackets.
type ReconnectOptions struct {
	// MinBackoff is the first wait before reopening [100ms]; it doubles
	// after each failed try up to MaxBackoff [1s]. MaxBackoff bounds how
	// long after the source's return the stream resumes (plus one open).
	MinBackoff, MaxBackoff time.Duration
	// GiveUpAfter ends the stream with ErrSourceLost when the source has
	// been gone this long [60s].
	GiveUpAfter time.Duration
	// Reopen, when set, opens the source again instead of Open(src, opts)
	// (a caller that re-checks policy or feeds FFmpeg its own input).
	Reopen func(ctx context.Context) (*Decoder, error)
	// OnState, when set, is called from Next with "reconnecting" (and the
	// error that lost the source) when the source is lost, and "playing"
	// once it is back.
	OnState func(state string, err error)
}

// Reconnecting reads a live network source and reopens it whenever it is
// lost (the server or publisher went away, the stream ended or stalled),
// retrying with exponential backoff. Frames keep counting: Index and PTS
// continue from before the loss, PTS advanced by the time the source was
// away, so the consumer (a tracker with its memory) sees one stream with a
// gap. Not safe for concurrent use.
type Reconnecting struct {
	src  string
	opts Options
	ro   ReconnectOptions
	info Info

	dec *Decoder

	next     int           // Index of the next frame
	lastPTS  time.Duration // PTS of the last frame returned
	lastWall time.Time     // when it was returned
	basePTS  time.Duration // first PTS of the current decoder, -1 before it
	ptsOff   time.Duration // added to the current decoder's PTS
	started  bool          // the current decoder has produced a frame

	reconnects int
	err        error // sticky terminal error
}

// OpenReconnecting opens src (which must answer now) and returns a source
// that survives its losses.
func OpenReconnecting(ctx context.Context, src string, opts Options, ro ReconnectOptions) (*Reconnecting, error) {
	dec, err := Open(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	return NewReconnecting(dec, src, opts, ro), nil
}

// NewReconnecting wraps an open decoder of src; it takes ownership of dec.
func NewReconnecting(dec *Decoder, src string, opts Options, ro ReconnectOptions) *Reconnecting {
	if ro.MinBackoff <= 0 {
		ro.MinBackoff = 100 * time.Millisecond
	}
	if ro.MaxBackoff < ro.MinBackoff {
		ro.MaxBackoff = max(time.Second, ro.MinBackoff)
	}
	if ro.GiveUpAfter <= 0 {
		ro.GiveUpAfter = 60 * time.Second
	}
	if opts.ProbeDuration <= 0 {
		// The stream's parameters are known from the first open: probe
		// briefly so a returning source resumes quickly.
		opts.ProbeDuration = 100 * time.Millisecond
	}
	return &Reconnecting{src: src, opts: opts, ro: ro, info: dec.Info(), dec: dec}
}

// SetOnState replaces ReconnectOptions.OnState; call it before Next.
func (r *Reconnecting) SetOnState(fn func(state string, err error)) { r.ro.OnState = fn }

// Info describes the stream as it was first opened.
func (r *Reconnecting) Info() Info { return r.info }

// Reconnects counts the times the source was reopened.
func (r *Reconnecting) Reconnects() int { return r.reconnects }

// Next returns the next frame, reopening the source as often as needed.
// It fails only when ctx ends, the source is gone longer than GiveUpAfter
// (ErrSourceLost), or it comes back as a different video (another size).
func (r *Reconnecting) Next(ctx context.Context) (*video.Frame, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if r.dec != nil {
			f, err := r.dec.Next(ctx)
			if err == nil {
				return r.emit(f), nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			if !lostSource(err) {
				r.err = err
				return nil, err
			}
			_ = r.dec.Close()
			r.dec = nil
			if r.ro.OnState != nil {
				r.ro.OnState("reconnecting", err)
			}
			if err := r.reopen(ctx, err); err != nil {
				return nil, err
			}
		}
	}
}

func (r *Reconnecting) emit(f *video.Frame) *video.Frame {
	if !r.started {
		r.started = true
		r.basePTS = f.PTS
		if r.reconnects > 0 {
			// Continue after the last frame, by as much time as the source was away.
			r.ptsOff = r.lastPTS + max(time.Since(r.lastWall), time.Millisecond)
		}
	}
	f.Index = r.next
	f.PTS = r.ptsOff + f.PTS - r.basePTS
	if f.PTS <= r.lastPTS && r.next > 0 {
		f.PTS = r.lastPTS + time.Millisecond // keep PTS increasing
	}
	r.next++
	r.lastPTS, r.lastWall = f.PTS, time.Now()
	return f
}

// reopen retries Open with backoff until it succeeds, ctx ends or the
// source has been gone longer than GiveUpAfter.
func (r *Reconnecting) reopen(ctx context.Context, cause error) error {
	lost := time.Now()
	backoff := r.ro.MinBackoff
	var last error // the latest failure to reopen
	for {
		var dec *Decoder
		var err error
		if r.ro.Reopen != nil {
			dec, err = r.ro.Reopen(ctx)
		} else {
			dec, err = Open(ctx, r.src, r.opts)
		}
		if err == nil {
			in := dec.Info()
			if in.Width != r.info.Width || in.Height != r.info.Height {
				_ = dec.Close()
				r.err = fmt.Errorf("decode: %s came back as %dx%d video, it was %dx%d", r.src, in.Width, in.Height, r.info.Width, r.info.Height)
				return r.err
			}
			r.dec, r.started = dec, false
			r.reconnects++
			if r.ro.OnState != nil {
				r.ro.OnState("playing", nil)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		if time.Since(lost)+backoff > r.ro.GiveUpAfter {
			r.err = fmt.Errorf("decode: %w: %s gone for longer than %v (last error: %w)", ErrSourceLost, r.src, r.ro.GiveUpAfter, last)
			return r.err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, r.ro.MaxBackoff)
	}
}

// lostSource tells a lost live source (worth reopening) from a fault that
// reopening cannot fix.
func lostSource(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated)
}

// Close closes the current decoder.
func (r *Reconnecting) Close() error {
	if r.dec == nil {
		return nil
	}
	err := r.dec.Close()
	r.dec = nil
	if r.err == nil {
		r.err = ErrClosed
	}
	return err
}
