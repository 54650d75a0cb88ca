package encode_test

import (
	"context"
	"errors"
	"io"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/video"
)

// picture is a smooth w x h test frame with a sharp moving square (so a
// picture shifted by a pixel scores low), different per i.
func picture(w, h, i int) []byte {
	rgb := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			o := (y*w + x) * 3
			r, g, b := x*200/w+i*5, y*200/h, 100
			if x >= w/3+i*4 && x < w/2+i*4 && y >= h/3 && y < h/2 {
				r, g, b = 240, 220, 30
			}
			rgb[o], rgb[o+1], rgb[o+2] = byte(r), byte(g), byte(b)
		}
	}
	return rgb
}

// An odd size (641x479) is written (4:2:0 needs even sizes: the picture is
// coded 642x480 with its last column and row repeated) and keeps its
// pixels in place.
func TestOddSize(t *testing.T) {
	const ow, oh, frames = 641, 479, 3
	for _, file := range []string{"odd.mp4", "odd.webm"} {
		t.Run(file, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), file)
			fw, err := encode.Create(p, encode.Options{Width: ow, Height: oh, FPS: 25, Bitrate: 4_000_000, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			for i := range frames {
				if err := fw.WriteFrame(picture(ow, oh, i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := decode.Open(context.Background(), p, decode.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if info := d.Info(); info.Width != ow+1 || info.Height != oh+1 {
				t.Errorf("file is %dx%d, want %dx%d", info.Width, info.Height, ow+1, oh+1)
			}
			got, err := readFrames(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != frames {
				t.Fatalf("decoded %d frames, want %d", len(got), frames)
			}
			for i, f := range got {
				// The source-size region, cropped from the coded picture.
				crop := make([]byte, 0, ow*oh*3)
				for y := range oh {
					crop = append(crop, f.RGB[y*f.Width*3:(y*f.Width+ow)*3]...)
				}
				if q := psnr(crop, picture(ow, oh, i)); q < 28 {
					t.Errorf("frame %d: PSNR %.1f dB of the 641x479 region, want >= 28", i, q)
				}
				// In place: the square's top-left corner is where it was drawn.
				x0, y0 := -1, -1
				for x := range ow {
					if crop[((oh*5/12)*ow+x)*3] > 200 {
						x0 = x
						break
					}
				}
				for y := range oh {
					if crop[(y*ow+ow*5/12+i*4)*3] > 200 {
						y0 = y
						break
					}
				}
				if x0 != ow/3+i*4 || y0 != oh/3 {
					t.Errorf("frame %d: square at (%d,%d), drawn at (%d,%d)", i, x0, y0, ow/3+i*4, oh/3)
				}
				// The padding repeats the last column and row.
				last := (oh-1)*f.Width*3 + (ow-1)*3
				if q := psnr(f.RGB[last+f.Width*3:last+f.Width*3+6], f.RGB[last:last+6]); q < 20 {
					t.Errorf("frame %d: the padded corner differs from the picture's (%.1f dB)", i, q)
				}
			}
		})
	}
}

// WriteFrameAt keeps each frame's own timestamp: a variable-rate sequence
// reads back with the same PTS.
func TestWriteFrameAtKeepsTimestamps(t *testing.T) {
	pts := []time.Duration{0, 40 * time.Millisecond, 50 * time.Millisecond, 150 * time.Millisecond,
		400 * time.Millisecond, 433 * time.Millisecond, 1000 * time.Millisecond}
	for _, file := range []string{"vfr.mp4", "vfr.webm"} {
		t.Run(file, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), file)
			fw, err := encode.Create(p, encode.Options{Width: 64, Height: 48, FPS: 7, Timescale: 90000, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			for i, at := range pts {
				if err := fw.WriteFrameAt(picture(64, 48, i), at); err != nil {
					t.Fatal(err)
				}
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := decode.Open(context.Background(), p, decode.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			got, err := readFrames(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(pts) {
				t.Fatalf("decoded %d frames, wrote %d", len(got), len(pts))
			}
			for i, f := range got {
				// WebM's time base is 1 ms.
				if d := f.PTS - pts[i]; math.Abs(float64(d)) > float64(time.Millisecond) {
					t.Errorf("frame %d: PTS %v, wrote %v", i, f.PTS, pts[i])
				}
			}
		})
	}
}

func readFrames(d *decode.Decoder) ([]*video.Frame, error) {
	var out []*video.Frame
	for {
		f, err := d.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}
