package session

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"maps"
	"slices"

	"github.com/vidseg/vidseg/decode"
)

// The timeline of an edit session: a strip of thumbnails along the
// video, and one lane per object saying on which frames it is present.
// Both are bounded whatever the video's length: at most maxThumbs
// thumbnails, at most maxLaneCells cells a lane.

const (
	maxThumbs    = 48
	thumbHeight  = 40
	maxThumbW    = 96
	maxLaneCells = 400
)

// Lane is one object's presence along the video, in cells of equal runs
// of frames (cell c holds frames c*frames/len .. (c+1)*frames/len-1):
// '.' not tracked, 'p' present, 'a' absent, 'm' present on some of its
// tracked frames, absent on others.
type Lane struct {
	Object int    `json:"object"`
	Cells  string `json:"cells"`
}

// lanes builds the objects' lanes from the results; e.mu held.
func (e *editor) lanes() []Lane {
	n := min(e.frames, maxLaneCells)
	byObj := map[int][]byte{}
	for f, objs := range e.results {
		c := f * n / e.frames
		for _, o := range objs {
			cells := byObj[o.ID]
			if cells == nil {
				cells = bytes.Repeat([]byte{'.'}, n)
				byObj[o.ID] = cells
			}
			v := byte('a')
			if o.Present {
				v = 'p'
			}
			switch cells[c] {
			case '.':
				cells[c] = v
			case v:
			default:
				cells[c] = 'm'
			}
		}
	}
	out := []Lane{}
	for _, id := range slices.Sorted(maps.Keys(byObj)) {
		out = append(out, Lane{Object: id, Cells: string(byObj[id])})
	}
	return out
}

// Thumbnails is a JPEG strip of evenly spaced frames of an edit
// session's video (thumbnail i shows the middle frame of the i-th of
// Count equal runs), for the page's timeline; built once, on first use.
type Thumbnails struct {
	JPEG   []byte
	Count  int
	Width  int // of one thumbnail
	Height int
}

// Thumbnails returns the session's thumbnail strip (edit sessions).
func (s *Session) Thumbnails(ctx context.Context) (*Thumbnails, error) {
	if s.ed == nil {
		return nil, s.notEdit()
	}
	e := s.ed
	e.thumbMu.Lock()
	defer e.thumbMu.Unlock()
	if e.thumbs != nil {
		return e.thumbs, nil
	}
	th, err := e.buildThumbnails(ctx)
	if err != nil {
		return nil, fmt.Errorf("thumbnails of %s: %w", s.Name, err)
	}
	e.thumbs = th
	return th, nil
}

// buildThumbnails decodes the frames with a decoder of its own (the
// player's and the model's belong to their goroutines).
func (e *editor) buildThumbnails(ctx context.Context) (*Thumbnails, error) {
	dec, err := decode.Open(ctx, e.s.path, decode.Options{Formats: decode.VideoFormats})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	info := dec.Info()
	count := min(e.frames, maxThumbs)
	th := &Thumbnails{Count: count, Height: thumbHeight}
	th.Width = min(maxThumbW, max(1, (thumbHeight*info.Width+info.Height/2)/max(1, info.Height)))
	strip := image.NewRGBA(image.Rect(0, 0, count*th.Width, th.Height))
	src := decode.NewSource(dec, e.frames, 1)
	for i := range count {
		f, err := src.Frame(ctx, (2*i+1)*e.frames/(2*count))
		if err != nil {
			return nil, err
		}
		shrink(strip, i*th.Width, f.RGB, f.Width, f.Height, th.Width, th.Height)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, strip, &jpeg.Options{Quality: 70}); err != nil {
		return nil, err
	}
	th.JPEG = buf.Bytes()
	return th, nil
}

// shrink draws the RGB24 picture (sw x sh) into dst at x0, dw x dh, each
// pixel the mean of the source pixels it covers.
func shrink(dst *image.RGBA, x0 int, rgb []byte, sw, sh, dw, dh int) {
	for y := range dh {
		ya, yb := y*sh/dh, max(y*sh/dh+1, (y+1)*sh/dh)
		for x := range dw {
			xa, xb := x*sw/dw, max(x*sw/dw+1, (x+1)*sw/dw)
			var r, g, b, n int
			for sy := ya; sy < yb; sy++ {
				for sx := xa; sx < xb; sx++ {
					i := 3 * (sy*sw + sx)
					r, g, b, n = r+int(rgb[i]), g+int(rgb[i+1]), b+int(rgb[i+2]), n+1
				}
			}
			o := dst.PixOffset(x0+x, y)
			dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2], dst.Pix[o+3] = uint8(r/n), uint8(g/n), uint8(b/n), 255
		}
	}
}
