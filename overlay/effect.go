package overlay

import (
	"fmt"
	"strings"
)

// Effect is how tracked objects are drawn: the page's "Effect" choices,
// so that an edit session's overlay.mp4 is what the page showed.
type Effect string

// The effects. Every one draws each object's contour opaque in its color
// (the page's "outline", on unless its Style says no); the background effects leave the
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
		st := m.style()
		if !st.Outline && e != Outline {
			continue
		}
		c := st.Color
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
		blurred := blur(rgb, w, h, BlurRadius(w))
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

// blur returns rgb blurred with standard deviation r. A wide blur is
// computed at a lower resolution (a blurred picture has no detail to
// lose) and scaled back up bilinearly: at 1280x720 that is 16 times
// fewer pixels to blur.
func blur(rgb []byte, w, h, r int) []byte {
	f := max(1, r/4)
	if f == 1 {
		out := append([]byte(nil), rgb...)
		boxBlur(out, w, h, r)
		return out
	}
	sw, sh := (w+f-1)/f, (h+f-1)/f
	small := make([]byte, sw*sh*3)
	for y := range sh {
		for x := range sw {
			var s [3]int
			n := 0
			for yy := y * f; yy < min((y+1)*f, h); yy++ {
				for xx := x * f; xx < min((x+1)*f, w); xx++ {
					i := 3 * (yy*w + xx)
					s[0], s[1], s[2] = s[0]+int(rgb[i]), s[1]+int(rgb[i+1]), s[2]+int(rgb[i+2])
					n++
				}
			}
			o := 3 * (y*sw + x)
			small[o], small[o+1], small[o+2] = uint8(s[0]/n), uint8(s[1]/n), uint8(s[2]/n)
		}
	}
	boxBlur(small, sw, sh, max(1, (r+f/2)/f))
	// Bilinear, in 8-bit fixed point: a pixel's centre (x+0.5)/f-0.5 in
	// the small picture.
	out := make([]byte, len(rgb))
	for y := range h {
		fy := max(0, (2*y+1)*256/(2*f)-128)
		y0, wy := min(fy>>8, sh-1), fy&255
		y1 := min(y0+1, sh-1)
		for x := range w {
			fx := max(0, (2*x+1)*256/(2*f)-128)
			x0, wx := min(fx>>8, sw-1), fx&255
			x1 := min(x0+1, sw-1)
			a, b := 3*(y0*sw+x0), 3*(y0*sw+x1)
			c, d := 3*(y1*sw+x0), 3*(y1*sw+x1)
			o := 3 * (y*w + x)
			for k := range 3 {
				top := int(small[a+k])*(256-wx) + int(small[b+k])*wx
				bot := int(small[c+k])*(256-wx) + int(small[d+k])*wx
				out[o+k] = uint8((top*(256-wy) + bot*wy + 1<<15) >> 16)
			}
		}
	}
	return out
}

// boxBlur approximates a Gaussian of standard deviation r: three box
// passes of radius r along rows, then three along columns (clamped at
// the edges, as the page draws the video past them). Columns are summed
// a row at a time, so every pass walks memory in order.
func boxBlur(rgb []byte, w, h, r int) {
	// Division by the box's size as a fixed-point multiply (sums are at
	// most 255 times the size, so the product fits).
	inv := int32((1<<16 + r) / (2*r + 1))
	div := func(v int32) int32 { return (v*inv + 1<<15) >> 16 }
	buf := make([]int32, len(rgb))
	tmp := make([]int32, len(rgb))
	for i, v := range rgb {
		buf[i] = int32(v)
	}
	row := 3 * w
	for range 3 {
		for y := range h {
			src, dst := buf[y*row:(y+1)*row], tmp[y*row:(y+1)*row]
			var s [3]int32
			for k := -r; k <= r; k++ {
				i := 3 * min(max(k, 0), w-1)
				s[0], s[1], s[2] = s[0]+src[i], s[1]+src[i+1], s[2]+src[i+2]
			}
			for x := range w {
				o := 3 * x
				dst[o], dst[o+1], dst[o+2] = div(s[0]), div(s[1]), div(s[2])
				add, sub := 3*min(x+r+1, w-1), 3*max(x-r, 0)
				s[0] += src[add] - src[sub]
				s[1] += src[add+1] - src[sub+1]
				s[2] += src[add+2] - src[sub+2]
			}
		}
		buf, tmp = tmp, buf
	}
	sum := make([]int32, row)
	for range 3 {
		clear(sum)
		for k := -r; k <= r; k++ {
			src := buf[min(max(k, 0), h-1)*row:][:row]
			for i, v := range src {
				sum[i] += v
			}
		}
		for y := range h {
			dst := tmp[y*row:][:row]
			for i, v := range sum {
				dst[i] = div(v)
			}
			add, sub := buf[min(y+r+1, h-1)*row:][:row], buf[max(y-r, 0)*row:][:row]
			for i := range sum {
				sum[i] += add[i] - sub[i]
			}
		}
		buf, tmp = tmp, buf
	}
	for i, v := range buf {
		rgb[i] = uint8(min(v, 255))
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
