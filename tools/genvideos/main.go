// Command genvideos writes the project's synthetic test clips with
// per-frame ground-truth masks:
//
//	go run ./tools/genvideos -out testdata/videos
//
// For each clip it writes <out>/<clip>/video.mp4 (H.264), masks/NNNNN.png
// (DAVIS-style indexed PNG, palette index = object id, 0 = background) and
// clip.json (objects, colors, first-frame boxes). Output is byte-identical
// from run to run.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"github.com/asticode/go-astiav"

	"github.com/vidseg/vidseg/encode"
)

const (
	width  = 320
	height = 240
	fps    = 30
	frames = 64
)

// clip is one synthetic scene.
type clip struct {
	name  string
	about string
	// objects returns the objects on frame t, back to front.
	objects  func(t int) []object
	occluder *occluder
	camera   func(t int) (int, int)
	seed     int
}

func drift(t int) (int, int) { return t, t / 3 }

var palette = color.Palette{ // DAVIS palette, first entries
	color.RGBA{0, 0, 0, 255},
	color.RGBA{128, 0, 0, 255},
	color.RGBA{0, 128, 0, 255},
	color.RGBA{128, 128, 0, 255},
}

func clips() []clip {
	return []clip{
		{
			name:  "moving_shape",
			about: "one orange ellipse moving diagonally and growing from 36x24 to 80x52 px",
			objects: func(t int) []object {
				return []object{{
					id: 1, shape: ellipse, color: [3]uint8{230, 120, 40},
					cx: (60 + 200*t/(frames-1)) * sub, cy: (70*sub + 100*sub*t/(frames-1)),
					rx: 18*sub + 22*sub*t/(frames-1), ry: 12*sub + 14*sub*t/(frames-1),
				}}
			},
			camera: drift, seed: 11,
		},
		{
			name:  "occlusion",
			about: "a blue disc (r=16 px) moving left to right passes fully behind a brick pillar (x 140..189) and comes out",
			objects: func(t int) []object {
				return []object{{
					id: 1, shape: ellipse, color: [3]uint8{50, 90, 220},
					cx: 30*sub + 260*sub*t/(frames-1), cy: 130 * sub, rx: 16 * sub, ry: 16 * sub,
				}}
			},
			occluder: &occluder{x0: 140, x1: 190},
			camera:   func(int) (int, int) { return 0, 0 }, // static camera: the pillar is part of the scene
			seed:     22,
		},
		{
			name:  "crossing",
			about: "two identical green squares (36 px) cross: id 1 left to right at y=110, id 2 right to left at y=130, id 2 in front",
			objects: func(t int) []object {
				g := [3]uint8{60, 200, 90}
				return []object{
					{id: 1, shape: rect, color: g, cx: 40*sub + 240*sub*t/(frames-1), cy: 110 * sub, rx: 18 * sub, ry: 18 * sub},
					{id: 2, shape: rect, color: g, cx: 280*sub - 240*sub*t/(frames-1), cy: 130 * sub, rx: 18 * sub, ry: 18 * sub},
				}
			},
			camera: drift, seed: 33,
		},
		{
			name:  "fast_motion",
			about: "a yellow disc (r=14 px) bouncing off the frame edges at 23 px/frame horizontally and 17 px/frame vertically",
			objects: func(t int) []object {
				r := 14
				x := bounce(40+23*t, r, width-r)
				y := bounce(50+17*t, r, height-r)
				return []object{{id: 1, shape: ellipse, color: [3]uint8{240, 220, 40}, cx: x * sub, cy: y * sub, rx: r * sub, ry: r * sub}}
			},
			camera: drift, seed: 44,
		},
	}
}

// bounce folds an unbounded coordinate into [lo, hi] like a ball between walls.
func bounce(v, lo, hi int) int {
	span := hi - lo
	p := (v - lo) % (2 * span)
	if p < 0 {
		p += 2 * span
	}
	if p > span {
		p = 2*span - p
	}
	return lo + p
}

// render draws frame t into rgb and its mask.
func (c *clip) render(t int, rgb []byte, mask *image.Paletted) {
	camX, camY := c.camera(t)
	objs := c.objects(t)
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			px, py := x*sub+sub/2, y*sub+sub/2
			col := background(x, y, camX, camY, c.seed)
			var id uint8
			for i := range objs {
				if objs[i].contains(px, py) {
					col = objectColor(&objs[i], x, y, c.seed+int(objs[i].id))
					id = objs[i].id
				}
			}
			if c.occluder != nil && x >= c.occluder.x0 && x < c.occluder.x1 {
				col = c.occluder.color(x, y)
				id = 0 // ground truth is the visible part only
			}
			o := (y*width + x) * 3
			rgb[o], rgb[o+1], rgb[o+2] = col[0], col[1], col[2]
			mask.Pix[y*mask.Stride+x] = id
		}
	}
}

type clipMeta struct {
	Name    string       `json:"name"`
	About   string       `json:"about"`
	Video   string       `json:"video"`
	Masks   string       `json:"masks"`
	Width   int          `json:"width"`
	Height  int          `json:"height"`
	FPS     int          `json:"fps"`
	Frames  int          `json:"frames"`
	Objects []objectInfo `json:"objects"`
}

type objectInfo struct {
	ID            int      `json:"id"`
	Color         [3]uint8 `json:"color"`
	MaskColor     [3]uint8 `json:"mask_color"`
	FirstBox      [4]int   `json:"first_box"`   // x0,y0,x1,y1 (x1,y1 exclusive) of the mask on frame 0
	FirstPoint    [2]int   `json:"first_point"` // a pixel inside the mask on frame 0 (box centre when inside)
	VisibleFrames int      `json:"visible_frames"`
	HiddenFrames  []int    `json:"hidden_frames,omitempty"`
}

func writeClip(dir string, c clip) error {
	cdir := filepath.Join(dir, c.name)
	mdir := filepath.Join(cdir, "masks")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	w, err := encode.Create(filepath.Join(cdir, "video.mp4"), encode.Options{
		Codec: encode.H264, Width: width, Height: height, FPS: fps, Threads: 1,
		KeyframeInterval: 32,
	})
	if err != nil {
		return err
	}
	defer w.Close()

	rgb := make([]byte, width*height*3)
	mask := image.NewPaletted(image.Rect(0, 0, width, height), palette)
	infos := map[uint8]*objectInfo{}
	var order []uint8
	for _, o := range c.objects(0) {
		pc := palette[o.id].(color.RGBA)
		infos[o.id] = &objectInfo{ID: int(o.id), Color: o.color, MaskColor: [3]uint8{pc.R, pc.G, pc.B}}
		order = append(order, o.id)
	}
	for t := 0; t < frames; t++ {
		c.render(t, rgb, mask)
		if err := w.WriteFrame(rgb); err != nil {
			return err
		}
		if err := writePNG(filepath.Join(mdir, fmt.Sprintf("%05d.png", t)), mask); err != nil {
			return err
		}
		seen := map[uint8]bool{}
		box := map[uint8]*[4]int{}
		for y := 0; y < height; y++ {
			for x := 0; x < width; x++ {
				id := mask.Pix[y*mask.Stride+x]
				if id == 0 {
					continue
				}
				seen[id] = true
				if t == 0 {
					b := box[id]
					if b == nil {
						b = &[4]int{x, y, x + 1, y + 1}
						box[id] = b
					}
					b[0], b[1] = min(b[0], x), min(b[1], y)
					b[2], b[3] = max(b[2], x+1), max(b[3], y+1)
				}
			}
		}
		for id, info := range infos {
			if seen[id] {
				info.VisibleFrames++
			} else {
				info.HiddenFrames = append(info.HiddenFrames, t)
			}
			if t == 0 && box[id] != nil {
				b := *box[id]
				info.FirstBox = b
				cx, cy := (b[0]+b[2])/2, (b[1]+b[3])/2
				if mask.Pix[cy*mask.Stride+cx] != id {
					cx, cy = firstPixel(mask, id)
				}
				info.FirstPoint = [2]int{cx, cy}
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	meta := clipMeta{Name: c.name, About: c.about, Video: "video.mp4", Masks: "masks/%05d.png",
		Width: width, Height: height, FPS: fps, Frames: frames}
	for _, id := range order {
		meta.Objects = append(meta.Objects, *infos[id])
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cdir, "clip.json"), append(js, '\n'), 0o644)
}

func firstPixel(m *image.Paletted, id uint8) (int, int) {
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			if m.Pix[y*m.Stride+x] == id {
				return x, y
			}
		}
	}
	return 0, 0
}

func writePNG(path string, m image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, m); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func generate(out string, only string) error {
	for _, c := range clips() {
		if only != "" && c.name != only {
			continue
		}
		if err := writeClip(out, c); err != nil {
			return fmt.Errorf("clip %s: %w", c.name, err)
		}
	}
	return nil
}

func main() {
	out := flag.String("out", "testdata/videos", "output directory")
	only := flag.String("clip", "", "generate only this clip")
	flag.Parse()
	astiav.SetLogLevel(astiav.LogLevelError) // x264 prints its statistics at info level
	if err := generate(*out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "genvideos:", err)
		os.Exit(1)
	}
}
