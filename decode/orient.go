package decode

import (
	"encoding/binary"
	"math"
)

// orientation is one of the eight right-angle transforms a container's
// display matrix can ask for (rotations by 90/180/270 degrees, flips and
// their combinations). Phones record upright video this way: the picture is
// coded sideways and the matrix says how to show it. The zero value shows
// the picture as coded.
//
// The matrix maps a coded pixel (p, q) to the displayed (a*p + c*q, b*p +
// d*q) plus a translation (libavutil/display.h). Without transpose the
// displayed x comes from the coded x (mirrored when flipX) and y from y
// (mirrored when flipY); with transpose the displayed x comes from the coded
// y and the displayed y from the coded x, mirrored by the same flags.
type orientation struct {
	transpose, flipX, flipY bool
}

// orientationOf reads a display matrix (nine native-endian int32, 16.16
// fixed point for a, b, c, d) as FFmpeg stores it in stream side data. It
// returns false for a matrix that is not a right-angle transform (arbitrary
// angles, skew): those are shown as coded.
func orientationOf(m []byte) (orientation, bool) {
	if len(m) < 36 {
		return orientation{}, false
	}
	at := func(i int) float64 { return float64(int32(binary.NativeEndian.Uint32(m[4*i:]))) }
	a, b, c, d := at(0), at(1), at(3), at(4)
	const eps = 1.0 / 64 // well under one degree off a right angle
	small := func(v, ref float64) bool { return math.Abs(v) <= eps*math.Abs(ref) }
	switch {
	case a != 0 && d != 0 && small(b, a) && small(c, d):
		return orientation{flipX: a < 0, flipY: d < 0}, true
	case b != 0 && c != 0 && small(a, b) && small(d, c):
		return orientation{transpose: true, flipX: c < 0, flipY: b < 0}, true
	}
	return orientation{}, false
}

func (o orientation) identity() bool { return o == orientation{} }

// size is the displayed size of a w x h coded picture.
func (o orientation) size(w, h int) (int, int) {
	if o.transpose {
		return h, w
	}
	return w, h
}

// degrees is the clockwise rotation o applies, ignoring mirroring (for
// messages): 0, 90, 180 or 270.
func (o orientation) degrees() int {
	switch {
	case o.transpose && o.flipX && !o.flipY:
		return 90
	case o.transpose && !o.flipX && o.flipY:
		return 270
	case !o.transpose && o.flipX && o.flipY:
		return 180
	}
	return 0
}

// apply writes the displayed form of src, packed RGB24 w x h as coded, into
// dst (same length). It only moves pixels, so it is exact.
func (o orientation) apply(dst, src []byte, w, h int) {
	dw, dh := o.size(w, h)
	for y := range dh {
		// Source offset of displayed (0, y) and its step along the row.
		sx, sy, step := 0, y, 3 // displayed x walks the coded x
		if o.transpose {
			sx, sy, step = y, 0, w*3 // displayed x walks the coded y
			if o.flipY {
				sx = w - 1 - y
			}
			if o.flipX {
				sy, step = h-1, -w*3
			}
		} else {
			if o.flipY {
				sy = h - 1 - y
			}
			if o.flipX {
				sx, step = w-1, -3
			}
		}
		s := (sy*w + sx) * 3
		row := dst[y*dw*3 : (y+1)*dw*3 : (y+1)*dw*3]
		for x := 0; x < len(row); x += 3 {
			p := src[s : s+3 : s+3]
			row[x], row[x+1], row[x+2] = p[0], p[1], p[2]
			s += step
		}
	}
}
