package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/tracker"
)

// CheckInput fails early, with exit code 3, on a local file that is not
// there or not readable. URLs are left to FFmpeg.
func CheckInput(input string) error {
	if strings.Contains(input, "://") {
		return nil
	}
	f, err := os.Open(input)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return InputErr(fmt.Errorf("input %s: no such file", input))
		}
		return InputErr(fmt.Errorf("input: %w", err))
	}
	fi, err := f.Stat()
	f.Close()
	if err == nil && fi.IsDir() {
		return InputErr(fmt.Errorf("input %s is a directory, not a video file", input))
	}
	return nil
}

// ProbeInput opens the input and decodes its first frame, so that an
// unreadable or unsupported input, or a prompt outside its frames, is
// reported before the model loads.
// It returns how many frames will be tracked and the prompts, checked
// against the video's (displayed) size and those frames.
func ProbeInput(ctx context.Context, input string, prompts *prompt.Set, limit int, warn io.Writer) (int, []prompt.Prompt, error) {
	dec, err := OpenVideo(ctx, input, decode.Options{})
	if err != nil {
		return 0, nil, err
	}
	defer dec.Close()
	info := dec.Info()
	if info.Live {
		return 0, nil, Usagef("track: %s is a live source; track works on files (use `vidseg serve` for streams)", input)
	}
	frames := info.Frames
	if frames <= 0 {
		return 0, nil, InputErr(fmt.Errorf("track: %s: the number of frames is unknown", input))
	}
	if limit > 0 {
		frames = min(frames, limit)
	}
	list, err := prompts.Resolve(info.Width, info.Height)
	if err != nil {
		return 0, nil, PromptSyntaxErr(err)
	}
	w, h := float32(info.Width), float32(info.Height)
	for i := range list {
		if err := clipBox(&list[i], info.Width, info.Height, warn); err != nil {
			return 0, nil, err
		}
	}
	warnNegativeOnly(list, warn)
	for _, p := range list {
		if p.Frame >= frames {
			return 0, nil, Usagef("track: a prompt is on frame %d but only frames 0..%d are tracked", p.Frame, frames-1)
		}
		for _, pt := range p.Points { // the tracker's rule, checked before the model loads
			if pt.X < 0 || pt.Y < 0 || pt.X >= w || pt.Y >= h {
				return 0, nil, Usagef("track: object %d frame %d: point (%g,%g) outside the %dx%d frame", p.Object, p.Frame, pt.X, pt.Y, info.Width, info.Height)
			}
		}
	}
	f, err := dec.Next(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, err
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("decode: %w: %s: no frame could be decoded", decode.ErrCorrupt, input)
		}
		return 0, nil, InputErr(fmt.Errorf("track: %w", err))
	}
	f.Release()
	return frames, list, nil
}

// OpenVideo opens input, mapping "the input is bad" errors to exit code 3.
func OpenVideo(ctx context.Context, input string, opts decode.Options) (*decode.Decoder, error) {
	dec, err := decode.Open(ctx, input, opts)
	if err == nil {
		return dec, nil
	}
	for _, bad := range []error{decode.ErrNotFound, decode.ErrNotVideo, decode.ErrUnsupportedCodec,
		decode.ErrTruncated, decode.ErrCorrupt, decode.ErrUnreachable, decode.ErrNotSeekable} {
		if errors.Is(err, bad) {
			return nil, InputErr(err)
		}
	}
	return nil, err
}

// Plan lays out the passes over frames 0..frames-1 for prompts on frames
// first..last, and how many frame results they deliver: forward from
// first; reverse: backward from last; both: forward from first, then
// backward from first; bothEnds: forward from first, then backward from
// last (the frames between are tracked twice, the backward result kept).
func Plan(first, last, frames int, reverse, both, bothEnds bool) (passes []tracker.PropagateOptions, total int) {
	switch {
	case reverse:
		return []tracker.PropagateOptions{{Start: last, Reverse: true}}, last + 1
	case bothEnds:
		passes = []tracker.PropagateOptions{{Start: first}, {Start: last, Reverse: true}}
		total = frames - first
		if last > 0 {
			total += last + 1
		}
		return passes, total
	case both:
		total = frames
		if first > 0 {
			total = frames + 1 // the backward pass revisits its start frame
		}
		return []tracker.PropagateOptions{{Start: first}, {Start: first, Reverse: true}}, total
	}
	return []tracker.PropagateOptions{{Start: first}}, frames - first
}

// PromptError marks prompts the tracker refused as usage errors.
func PromptError(err error) error {
	for _, bad := range []error{tracker.ErrPromptOutside, tracker.ErrEmptyPrompt, tracker.ErrFrameRange, tracker.ErrUnknownObject} {
		if errors.Is(err, bad) {
			return Usagef("%v", err)
		}
	}
	return err
}

// PromptSyntaxErr maps the prompt package's errors to exit codes: a mask
// file that cannot be read is an input error, anything else a usage error.
func PromptSyntaxErr(err error) error {
	if errors.As(err, new(*prompt.FileError)) {
		return InputErr(err)
	}
	return WithCode(ExitUsage, err)
}

// clipBox clips a box dragged past the frame's edges to the frame (users
// drag boxes past edges); only a box with nothing inside is refused.
func clipBox(p *prompt.Prompt, width, height int, warn io.Writer) error {
	b := p.Box
	if b == nil {
		return nil
	}
	w, h := float32(width), float32(height)
	c := mask.Box{X0: max(b.X0, 0), Y0: max(b.Y0, 0), X1: min(b.X1, w), Y1: min(b.Y1, h)}
	if c.X1 <= c.X0 || c.Y1 <= c.Y0 {
		return Usagef("track: object %d frame %d: box (%g,%g)-(%g,%g) is entirely outside the %dx%d frame", p.Object, p.Frame, b.X0, b.Y0, b.X1, b.Y1, width, height)
	}
	if c != *b {
		fmt.Fprintf(warn, "vidseg: object %d frame %d: box (%g,%g)-(%g,%g) clipped to the %dx%d frame: (%g,%g)-(%g,%g)\n",
			p.Object, p.Frame, b.X0, b.Y0, b.X1, b.Y1, width, height, c.X0, c.Y0, c.X1, c.Y1)
		p.Box = &c
	}
	return nil
}

// warnNegativeOnly warns about an object whose first prompt is only
// negative clicks: the model segments something anyway, seldom what the
// user meant.
func warnNegativeOnly(list []prompt.Prompt, warn io.Writer) {
	seen := map[int]bool{}
	for _, p := range list { // frame order
		if seen[p.Object] {
			continue
		}
		seen[p.Object] = true
		if p.Box != nil || p.Mask != nil || len(p.Points) == 0 {
			continue
		}
		positive := false
		for _, pt := range p.Points {
			positive = positive || pt.Positive
		}
		if !positive {
			fmt.Fprintf(warn, "vidseg: warning: object %d starts on frame %d with only negative clicks: the model will segment something anyway; add a positive click or a box\n", p.Object, p.Frame)
		}
	}
}
