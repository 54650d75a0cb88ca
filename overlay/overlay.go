// Package overlay draws tracked objects over video frames: one palette and
// one blending for the live view (stream), the web app's downloads and
// `vidseg track`'s overlay.mp4 (results).
package overlay

// Palette holds the object colors; object id i is drawn with
// Palette[i % len(Palette)]. The web page uses the same list.
var Palette = [...][3]uint8{
	{139, 69, 19},  // brown (id 0 is rarely used)
	{255, 64, 64},  // red
	{255, 0, 255},  // magenta
	{30, 144, 255}, // dodger blue
	{255, 215, 0},  // gold
	{0, 255, 255},  // cyan
	{255, 140, 0},  // orange
	{148, 0, 211},  // violet
	{50, 205, 50},  // lime green
	{255, 255, 255},
}

// Color returns the overlay color of an object id.
func Color(id int) [3]uint8 {
	if id < 0 {
		id = -id
	}
	return Palette[id%len(Palette)]
}

// ObjectMask is one object's source-size binary mask (nonzero = object).
type ObjectMask struct {
	ID   int
	Mask []byte
	// Style, when set, is how the page draws the object (its colour,
	// opacity and outline chosen there); nil: the palette's colour,
	// Alpha, the contour drawn.
	Style *Style
}

// Style is how an object is drawn.
type Style struct {
	Color   [3]uint8
	Alpha   int  // fill opacity out of 256
	Outline bool // the contour drawn opaque
}

func (m ObjectMask) style() Style {
	if m.Style != nil {
		s := *m.Style
		s.Alpha = min(max(s.Alpha, 0), 256)
		return s
	}
	return Style{Color: Color(m.ID), Alpha: Alpha, Outline: true}
}

// Alpha is the overlay opacity inside a mask, out of 256.
const Alpha = 144

// Composite alpha-blends each mask into the RGB24 frame in place, in the
// object's color, and draws its one-pixel contour opaque so thin or
// overlapping objects stay visible (as the object's Style says, when
// set).
func Composite(rgb []byte, w, h int, masks []ObjectMask) error {
	if err := check(rgb, w, h, masks); err != nil {
		return err
	}
	for _, m := range masks {
		st := m.style()
		c, a := st.Color, uint32(st.Alpha)
		cr, cg, cb := uint32(c[0])*a, uint32(c[1])*a, uint32(c[2])*a
		keep := 256 - a
		for y := 0; y < h; y++ {
			row := m.Mask[y*w : (y+1)*w]
			for x, on := range row {
				if on == 0 {
					continue
				}
				i := (y*w + x) * 3
				if st.Outline && edge(m.Mask, w, h, x, y) {
					rgb[i], rgb[i+1], rgb[i+2] = c[0], c[1], c[2]
					continue
				}
				rgb[i] = uint8((uint32(rgb[i])*keep + cr) >> 8)
				rgb[i+1] = uint8((uint32(rgb[i+1])*keep + cg) >> 8)
				rgb[i+2] = uint8((uint32(rgb[i+2])*keep + cb) >> 8)
			}
		}
	}
	return nil
}

// edge reports whether the set pixel (x, y) touches an unset 4-neighbor or
// the frame border.
func edge(m []byte, w, h, x, y int) bool {
	i := y*w + x
	return x == 0 || y == 0 || x == w-1 || y == h-1 ||
		m[i-1] == 0 || m[i+1] == 0 || m[i-w] == 0 || m[i+w] == 0
}
