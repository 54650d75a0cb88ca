package prompt

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/mask"
)

// Command-line syntax:
//
//	--point X,Y[,LABEL][@FRAME][#OBJECT]   LABEL: 1, pos, + (default) or 0, neg, -
//	--box X0,Y0,X1,Y1[@FRAME][#OBJECT]
//	--mask FILE.png[@FRAME][#OBJECT]       without #OBJECT every nonzero index/gray
//	                                       level is an object with that id
//
// FRAME defaults to 0, OBJECT to 1. Coordinates are source-frame pixels.
// Help describes the command-line syntax, for a command's help text.
const Help = `Prompts (repeatable; FRAME defaults to 0, OBJECT to 1; pixels of the source frame):
  --point X,Y[,LABEL][@FRAME][#OBJECT]  a click; LABEL 1/pos/+ (default) or 0/neg/-
  --box X0,Y0,X1,Y1[@FRAME][#OBJECT]    a box (corners), may be combined with points
  --mask FILE[@FRAME][#OBJECT]          a PNG mask: with #OBJECT its nonzero pixels are that
                                        object; without, every nonzero palette index (or gray
                                        level) is the object of that id, e.g. a DAVIS annotation;
                                        a FILE with '@' or '#' in its name goes in double quotes:
                                        --mask '"img@2x.png"@0#1'
  OBJECT ids are 1..255 (DAVIS PNGs); a box past the frame's edges is clipped to it`

// promptKey groups everything said about one object on one frame: the
// tracker takes points and box of a frame together.
type promptKey struct{ frame, object int }

// Set collects prompts given on the command line (--point, --box, --mask)
// and resolves them into Prompts once the video size is known. Its errors
// are bad syntax or bad prompts, except a *FileError.
type Set struct {
	byKey map[promptKey]*Prompt
	masks []maskSpec
}

type maskSpec struct {
	file          string
	frame, object int // object 0: every index is an object
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{byKey: map[promptKey]*Prompt{}} }

// Empty reports whether no prompt was added.
func (ps *Set) Empty() bool { return len(ps.byKey) == 0 && len(ps.masks) == 0 }

// A FileError is a mask file that is missing or unreadable.
type FileError struct{ Err error }

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

func (ps *Set) get(frame, object int) *Prompt {
	k := promptKey{frame, object}
	p := ps.byKey[k]
	if p == nil {
		p = &Prompt{Frame: frame, Object: object}
		ps.byKey[k] = p
	}
	return p
}

// maxObject is the highest object id: masks are written as DAVIS indexed
// PNGs, one palette index per object.
const maxObject = 255

// splitTarget cuts "BODY[@FRAME][#OBJECT]" (either order of suffixes, each
// at most once); object is 0 when not given. A body in double quotes is taken whole, so that a file
// named img@2x.png can be given as "img@2x.png"@0#1.
func splitTarget(flagName, s string) (body string, frame, object int, err error) {
	body = s
	quoted := strings.HasPrefix(s, `"`)
	if quoted {
		end := strings.Index(s[1:], `"`)
		if end < 0 {
			return "", 0, 0, fmt.Errorf("--%s %q: no closing '\"'", flagName, s)
		}
		body = s[1 : 1+end]
	}
	rest := s
	if quoted {
		rest = s[len(body)+2:]
		if rest != "" && rest[0] != '@' && rest[0] != '#' {
			return "", 0, 0, fmt.Errorf("--%s %q: after the quoted name want @FRAME or #OBJECT, got %q", flagName, s, rest)
		}
	}
	var seen [2]bool
	for {
		i := strings.LastIndexAny(rest, "@#")
		if i < 0 {
			break
		}
		suffix, kind := rest[i+1:], rest[i]
		n, perr := strconv.Atoi(suffix)
		slot := 0
		if kind == '#' {
			slot = 1
		}
		if seen[slot] {
			return "", 0, 0, fmt.Errorf("--%s %q: more than one '%c' suffix", flagName, s, kind)
		}
		seen[slot] = true
		if kind == '@' {
			if perr != nil || n < 0 {
				return "", 0, 0, fmt.Errorf("--%s %q: frame %q after '@' is not a frame index (0, 1, ...)%s", flagName, s, suffix, quoteHint(flagName))
			}
			frame = n
		} else {
			if perr != nil || n < 1 || n > maxObject {
				return "", 0, 0, fmt.Errorf("--%s %q: object %q after '#' is not an object id (1..%d)%s", flagName, s, suffix, maxObject, quoteHint(flagName))
			}
			object = n
		}
		rest = rest[:i]
		if quoted && rest == "" {
			break
		}
	}
	if !quoted {
		body = rest
	}
	return body, frame, object, nil
}

func quoteHint(flagName string) string {
	if flagName != "mask" {
		return ""
	}
	return `; to name a file with '@' or '#' in it, quote it: --mask '"img@2x.png"@0#1'`
}

// parseCoords reads the first n numbers of body; negative ones are refused
// unless signed (a box dragged past the left or top edge).
func parseCoords(flagName, whole, body string, n int, signed bool) ([]float32, error) {
	parts := strings.Split(body, ",")
	if len(parts) < n {
		return nil, fmt.Errorf("--%s %q: want %d comma-separated numbers", flagName, whole, n)
	}
	out := make([]float32, n)
	for i := range n {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--%s %q: %q is not a number", flagName, whole, parts[i])
		}
		if v < 0 && !signed {
			return nil, fmt.Errorf("--%s %q: %q is negative (pixels start at 0)", flagName, whole, parts[i])
		}
		out[i] = float32(v)
	}
	return out, nil
}

// AddPoint adds a --point argument.
func (ps *Set) AddPoint(s string) error {
	body, frame, object, err := splitTarget("point", s)
	if err != nil {
		return err
	}
	object = max(object, 1)
	xy, err := parseCoords("point", s, body, 2, false)
	if err != nil {
		return err
	}
	parts := strings.Split(body, ",")
	positive := true
	switch len(parts) {
	case 2:
	case 3:
		switch strings.ToLower(strings.TrimSpace(parts[2])) {
		case "1", "pos", "positive", "+":
		case "0", "neg", "negative", "-":
			positive = false
		default:
			return fmt.Errorf("--point %q: label %q: want 1/pos/+ or 0/neg/-", s, parts[2])
		}
	default:
		return fmt.Errorf("--point %q: want X,Y or X,Y,LABEL", s)
	}
	p := ps.get(frame, object)
	p.Points = append(p.Points, Point{X: xy[0], Y: xy[1], Positive: positive})
	return nil
}

// AddBox adds a --box argument.
func (ps *Set) AddBox(s string) error {
	body, frame, object, err := splitTarget("box", s)
	if err != nil {
		return err
	}
	object = max(object, 1)
	if strings.Count(body, ",") != 3 {
		return fmt.Errorf("--box %q: want X0,Y0,X1,Y1", s)
	}
	c, err := parseCoords("box", s, body, 4, true)
	if err != nil {
		return err
	}
	if c[2] <= c[0] || c[3] <= c[1] {
		return fmt.Errorf("--box %q: X1 must exceed X0 and Y1 exceed Y0", s)
	}
	p := ps.get(frame, object)
	if p.Box != nil {
		return fmt.Errorf("--box %q: object %d already has a box on frame %d", s, object, frame)
	}
	p.Box = &mask.Box{X0: c[0], Y0: c[1], X1: c[2], Y1: c[3]}
	return nil
}

// AddMask adds a --mask argument; the file is read by Resolve.
func (ps *Set) AddMask(s string) error {
	file, frame, object, err := splitTarget("mask", s)
	if err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("--mask %q: no file name", s)
	}
	ps.masks = append(ps.masks, maskSpec{file: file, frame: frame, object: object})
	return nil
}

// Resolve reads mask files (size-checked against w x h) and returns the
// prompts in frame order, then object order.
func (ps *Set) Resolve(w, h int) ([]Prompt, error) {
	for _, m := range ps.masks {
		labels, mw, mh, err := readLabels(m.file)
		if err != nil {
			return nil, err
		}
		if mw != w || mh != h {
			return nil, fmt.Errorf("--mask %s: mask is %dx%d, the video is %dx%d", m.file, mw, mh, w, h)
		}
		ids := map[int]bool{}
		for _, v := range labels {
			if v != 0 {
				ids[int(v)] = true
			}
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("--mask %s: no nonzero pixel", m.file)
		}
		add := func(object int, match func(uint8) bool) error {
			k := promptKey{m.frame, object}
			if ps.byKey[k] != nil {
				return fmt.Errorf("--mask %s: object %d on frame %d already has a prompt (a mask cannot be combined with points or a box)", m.file, object, m.frame)
			}
			bin := make([]byte, len(labels))
			for i, v := range labels {
				if match(v) {
					bin[i] = 1
				}
			}
			rle, err := mask.EncodeRLE(bin, w, h)
			if err != nil {
				return err
			}
			ps.byKey[k] = &Prompt{Frame: m.frame, Object: object, Mask: &rle}
			return nil
		}
		if m.object != 0 {
			if err := add(m.object, func(v uint8) bool { return v != 0 }); err != nil {
				return nil, err
			}
			continue
		}
		for id := range ids {
			if err := add(id, func(v uint8) bool { return int(v) == id }); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Prompt, 0, len(ps.byKey))
	for _, p := range ps.byKey {
		if err := p.Check(w, h); err != nil {
			return nil, fmt.Errorf("prompt on frame %d: %w", p.Frame, err)
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Frame != out[j].Frame {
			return out[i].Frame < out[j].Frame
		}
		return out[i].Object < out[j].Object
	})
	return out, nil
}

// readLabels reads a mask PNG: one label per pixel, the palette index of
// an indexed PNG (DAVIS), else the gray level.
func readLabels(path string) ([]uint8, int, int, error) {
	labels, w, h, err := mask.ReadPNG(path)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, 0, &FileError{fmt.Errorf("mask %s: no such file", path)}
	case errors.As(err, &pe):
		return nil, 0, 0, &FileError{fmt.Errorf("mask: %w", err)}
	case err != nil:
		return nil, 0, 0, &FileError{fmt.Errorf("mask %w", err)}
	}
	return labels, w, h, nil
}
