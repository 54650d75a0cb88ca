// Package mask holds binary and label masks: COCO run-length encoding as
// pycocotools writes it, boxes and IoU of masks, and the indexed PNG files
// of the DAVIS benchmark.
//
// Masks are row-major byte slices, width*height long, any non-zero byte
// being foreground.
package mask

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strings"
)

// RLE is a binary mask run-length encoded as COCO does (pycocotools
// maskApi.c): pixels are read column by column (Fortran order), and
// Counts alternate runs of background and foreground starting with
// background, so a mask whose first pixel is set starts with a 0 count.
type RLE struct {
	Height, Width int
	Counts        []uint32
}

// EncodeRLE encodes the row-major w x h mask m (non-zero = foreground) as
// rleEncode does on np.asfortranarray(m).
func EncodeRLE(m []byte, w, h int) (RLE, error) {
	if err := checkSize(len(m), w, h); err != nil {
		return RLE{}, err
	}
	r := RLE{Height: h, Width: w}
	var prev byte
	var run uint32
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			v := b2u(m[y*w+x])
			if v != prev {
				r.Counts = append(r.Counts, run)
				run, prev = 0, v
			}
			run++
		}
	}
	r.Counts = append(r.Counts, run)
	return r, nil
}

// Decode returns the row-major mask, 1 for foreground and 0 elsewhere.
func (r RLE) Decode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if int64(r.Width)*int64(r.Height) > maxPixels {
		return nil, fmt.Errorf("mask: rle size %dx%d is too large to decode", r.Width, r.Height)
	}
	m := make([]byte, r.Width*r.Height)
	var v byte
	i := 0 // column-major position
	for _, c := range r.Counts {
		if v == 1 {
			for k := i; k < i+int(c); k++ {
				x, y := k/r.Height, k%r.Height
				m[y*r.Width+x] = 1
			}
		}
		i += int(c)
		v ^= 1
	}
	return m, nil
}

// Validate reports whether the counts cover exactly Width*Height pixels.
func (r RLE) Validate() error {
	if r.Width < 0 || r.Height < 0 {
		return fmt.Errorf("mask: rle size %dx%d is negative", r.Width, r.Height)
	}
	var sum uint64
	for _, c := range r.Counts {
		sum += uint64(c)
	}
	if want := uint64(r.Width) * uint64(r.Height); sum != want {
		return fmt.Errorf("mask: rle counts cover %d pixels, size %dx%d has %d", sum, r.Width, r.Height, want)
	}
	return nil
}

// Area is the number of foreground pixels (rleArea).
func (r RLE) Area() int {
	a := 0
	for j := 1; j < len(r.Counts); j += 2 {
		a += int(r.Counts[j])
	}
	return a
}

// BBox is the bounding rectangle of the foreground, computed on the runs as
// rleToBbox does; its [x, y, w, h] is Min.X, Min.Y, Dx(), Dy(). An empty
// mask gives the zero Rectangle.
func (r RLE) BBox() image.Rectangle {
	m := len(r.Counts) / 2 * 2 // a trailing background run adds nothing
	if m == 0 || r.Height == 0 {
		return image.Rectangle{}
	}
	h := uint64(r.Height)
	xs, ys := uint64(r.Width), h
	var xe, ye, xp, cc uint64
	for j := 0; j < m; j++ {
		cc += uint64(r.Counts[j])
		t := cc - uint64(j%2) // first pixel of a run, last pixel of a foreground run
		y := t % h
		x := (t - y) / h
		if j%2 == 0 {
			xp = x
		} else if xp < x { // the run wraps a column: it covers every row
			ys, ye = 0, h-1
		}
		xs, xe = min(xs, x), max(xe, x)
		ys, ye = min(ys, y), max(ye, y)
	}
	return image.Rect(int(xs), int(ys), int(xe)+1, int(ye)+1)
}

// String is the compressed counts string of rleToString: each count (from
// the fourth on, its difference with the count two before) in 5-bit groups,
// low first, 0x20 marking continuation, offset by '0'.
func (r RLE) String() string {
	var sb strings.Builder
	for i, c := range r.Counts {
		x := int64(c)
		if i > 2 {
			x -= int64(r.Counts[i-2])
		}
		for more := true; more; {
			ch := byte(x & 0x1f)
			x >>= 5
			if ch&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				ch |= 0x20
			}
			sb.WriteByte(ch + 48)
		}
	}
	return sb.String()
}

// ParseRLE decodes a compressed counts string (rleFrString) for a w x h
// mask and checks that the counts cover it.
func ParseRLE(s string, w, h int) (RLE, error) {
	r := RLE{Height: h, Width: w}
	for p := 0; p < len(s); {
		var x int64
		k := 0
		for more := true; more; {
			if p >= len(s) {
				return RLE{}, fmt.Errorf("mask: rle string ends inside a count at byte %d", p)
			}
			if s[p] < 48 || s[p] > 111 {
				return RLE{}, fmt.Errorf("mask: rle string has byte %q at %d, outside '0'..'o'", s[p], p)
			}
			if k >= 13 { // 65 bits: no count is that long
				return RLE{}, fmt.Errorf("mask: rle count at byte %d is too long", p)
			}
			c := int64(s[p] - 48)
			x |= (c & 0x1f) << (5 * k)
			more = c&0x20 != 0
			p++
			k++
			if !more && c&0x10 != 0 {
				x |= -1 << (5 * k) // sign-extend
			}
		}
		m := len(r.Counts)
		if m > 2 {
			x += int64(r.Counts[m-2])
		}
		if x < 0 || x > 1<<32-1 {
			return RLE{}, fmt.Errorf("mask: rle count %d (number %d) is out of range", x, m)
		}
		r.Counts = append(r.Counts, uint32(x))
	}
	if err := r.Validate(); err != nil {
		return RLE{}, err
	}
	return r, nil
}

// maxPixels bounds what Decode allocates: far above any video frame.
const maxPixels = 1 << 31

// cocoRLE is the JSON form COCO and SA-V annotations use.
type cocoRLE struct {
	Size   [2]int          `json:"size"` // [height, width]
	Counts json.RawMessage `json:"counts"`
}

// MarshalJSON writes {"size": [h, w], "counts": "<compressed>"}.
func (r RLE) MarshalJSON() ([]byte, error) {
	counts, err := json.Marshal(r.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(cocoRLE{Size: [2]int{r.Height, r.Width}, Counts: counts})
}

// UnmarshalJSON reads the compressed form or the uncompressed one, whose
// counts are a list of numbers.
func (r *RLE) UnmarshalJSON(data []byte) error {
	var c cocoRLE
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("mask: rle json: %w", err)
	}
	if len(c.Counts) == 0 {
		return errors.New("mask: rle json has no counts")
	}
	h, w := c.Size[0], c.Size[1]
	if c.Counts[0] == '"' {
		var s string
		if err := json.Unmarshal(c.Counts, &s); err != nil {
			return fmt.Errorf("mask: rle json counts: %w", err)
		}
		parsed, err := ParseRLE(s, w, h)
		if err != nil {
			return err
		}
		*r = parsed
		return nil
	}
	var counts []uint32
	if err := json.Unmarshal(c.Counts, &counts); err != nil {
		return fmt.Errorf("mask: rle json counts: %w", err)
	}
	parsed := RLE{Height: h, Width: w, Counts: counts}
	if err := parsed.Validate(); err != nil {
		return err
	}
	*r = parsed
	return nil
}

func checkSize(n, w, h int) error {
	if w < 0 || h < 0 {
		return fmt.Errorf("mask: size %dx%d is negative", w, h)
	}
	if n != w*h {
		return fmt.Errorf("mask: %d bytes for a %dx%d mask, want %d", n, w, h, w*h)
	}
	return nil
}

func b2u(v byte) byte {
	if v != 0 {
		return 1
	}
	return 0
}
