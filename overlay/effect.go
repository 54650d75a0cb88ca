package overlay

import (
	"fmt"
	"strings"
)

// Effect is how tracked objects are drawn: the page's "Effect" choices,
// so that an edit session's overlay.mp4 is what the page showed.
type Effect string

// The effects. Every one draws each object's contour opaque in its color
// (the page's default "outline"); the background effects leave the
// objects' own pixels as they are and change everything else.
const (
	Highlight  Effect = "highlight"  // fill at Alpha (Composite)
	Outline    Effect = "outline"    // the contour only
	Erase      Effect = "erase"      // the background black
	Blur       Effect = "blur"       // the background blurred
	Desaturate Effect = "desaturate" // the background in grey
)

// Effects lists the effects in the page's order.
var Effects = []Effect{Highlight, Outline, Erase, Blur, Desaturate}

// ParseEffect reads an effect name; "" is Highlight.
func ParseEffect(s string) (Effect, error) {
	if s == "" {
		return Highlight, nil
	}
	for _, e := range Effects {
		if string(e) == s {
			return e, nil
		}
	}
	names := make([]string, len(Effects))
	for i, e := range Effects {
		names[i] = string(e)
	}
	return "", fmt.Errorf("overlay: effect %q: want one of %s", s, strings.Join(names, ", "))
}

// BlurRadius is the blur's strength for a frame w pixels wide, as the
// page's (a CSS blur of this standard deviation).
func BlurRadius(w int) int { return max(4, (w+40)/80) }

// Render draws masks into the RGB24 frame in place with effect e.
func Render(rgb []byte, w, h int, masks []ObjectMask, e Effect) error {
	if e == Highlight || e == "" {
		return Composite(rgb, w, h, masks)
	}
	if err := check(rgb, w, h, masks); err != nil {
		return err
	}
	if e != Outline {
		in := make([]bool, w*h)
		for _, m := range masks {
			for i, on := range m.Mask {
				if on != 0 {
					in[i] = true
				}
			}
		}
		if err := background(rgb, w, h, in, e); err != nil {
			return err
		}
	}
	for _, m := range masks {
		c := Color(m.ID)
		for y := range h {
			for x := range w {
				if m.Mask[y*w+x] != 0 && edge(m.Mask, w, h, x, y) {
					i := (y*w + x) * 3
					rgb[i], rgb[i+1], rgb[i+2] = c[0], c[1], c[2]
				}
			}
		}
	}
	return nil
}

// background applies a background effect to the pixels outside in.
func background(rgb []byte, w, h int, in []bool, e Effect) error {
	switch e {
	case Erase:
		for i, o := range in {
			if !o {
				rgb[3*i], rgb[3*i+1], rgb[3*i+2] = 0, 0, 0
			}
		}
	case Desaturate:
		for i, o := range in {
			if !o {
				// Rec. 709 luma, as CSS grayscale(1).
				p := rgb[3*i : 3*i+3]
				y := uint8((2126*uint32(p[0]) + 7152*uint32(p[1]) + 722*uint32(p[2]) + 5000) / 10000)
				p[0], p[1], p[2] = y, y, y
			}
		}
	case Blur:
		blurred := append([]byte(nil), rgb...)
		boxBlur(blurred, w, h, BlurRadius(w))
		for i, o := range in {
			if !o {
				copy(rgb[3*i:3*i+3], blurred[3*i:3*i+3])
			}
		}
	default:
		return fmt.Errorf("overlay: effect %q: unknown", e)
	}
	return nil
}

// boxBlur approximates a Gaussian of standard deviation r: three box
// passes of radius r along rows, then along columns (clamped at the
// edges, as the page draws the video past them).
func boxBlur(rgb []byte, w, h, r int) {
	line := make([]int32, 3*max(w, h))
	out := make([]byte, 3*max(w, h))
	pass := func(n, stride, at int) {
		for k := range n {
			i := at + k*stride
			line[3*k], line[3*k+1], line[3*k+2] = int32(rgb[i]), int32(rgb[i+1]), int32(rgb[i+2])
		}
		for c := range 3 {
			var sum int32
			get := func(k int) int32 { return line[3*min(max(k, 0), n-1)+c] }
			for k := -r; k <= r; k++ {
				sum += get(k)
			}
			for k := range n {
				out[3*k+c] = uint8((sum + int32(r)) / int32(2*r+1))
				sum += get(k+r+1) - get(k-r)
			}
		}
		for k := range n {
			i := at + k*stride
			rgb[i], rgb[i+1], rgb[i+2] = out[3*k], out[3*k+1], out[3*k+2]
		}
	}
	for range 3 {
		for y := range h {
			pass(w, 3, 3*y*w)
		}
		for x := range w {
			pass(h, 3*w, 3*x)
		}
	}
}

// check validates a frame and its masks.
func check(rgb []byte, w, h int, masks []ObjectMask) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("overlay: composite: bad size %dx%d", w, h)
	}
	if len(rgb) != w*h*3 {
		return fmt.Errorf("overlay: composite: frame has %d bytes, want %d for %dx%d RGB24", len(rgb), w*h*3, w, h)
	}
	for _, m := range masks {
		if len(m.Mask) != w*h {
			return fmt.Errorf("overlay: composite: object %d mask has %d bytes, want %d", m.ID, len(m.Mask), w*h)
		}
	}
	return nil
}
