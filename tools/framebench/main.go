// Command framebench is `vidseg bench` over a folder of JPEG or PNG frames,
// without FFmpeg: for GPU machines that have ONNX Runtime and CUDA but not
// FFmpeg's libraries (tools/gpu/README.md). The frames are decoded and
// resized up front, as the official predictor loads a folder of JPEG frames
// before it tracks, and the same measurement as `vidseg bench` runs on them
// (internal/bench: the file preset, a click per object on frame 0, two
// warm-up frames, then the timed frames).
//
//	framebench --model DIR --frames-dir DIR [--objects 1,2,4] [--frames 50] [--provider cuda] [--json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/internal/bench"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "framebench:", err)
		os.Exit(1)
	}
}

func run() error {
	modelDir := flag.String("model", "", "model package directory")
	framesDir := flag.String("frames-dir", "", "folder of .jpg/.png frames, in name order")
	objectsFlag := flag.String("objects", "1", "object counts, comma-separated")
	frames := flag.Int("frames", 50, "timed frames per pass")
	provider := flag.String("provider", "auto", "auto, cpu or cuda")
	tf32 := flag.Bool("tf32", false, "let the CUDA provider use TF32 for fp32 math")
	resident := flag.String("resident", "auto", "keep image features in ONNX Runtime between graphs: auto (on with CUDA), on or off")
	modeFlag := flag.String("mode", "sam2", "sam2 or samurai")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile here")
	ortProfile := flag.String("ort-profile", "", "ONNX Runtime profile file prefix (written when the model closes)")
	cudaOpts := map[string]string{}
	flag.Func("cuda-opt", "extra CUDA provider option KEY=VALUE (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		cudaOpts[k] = val
		return nil
	})
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *modelDir == "" || *framesDir == "" {
		return errors.New("--model and --frames-dir are required")
	}
	var counts []int
	for _, f := range strings.Split(*objectsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--objects %q: want counts such as 1,2,4", *objectsFlag)
		}
		counts = append(counts, n)
	}
	mode, err := tracker.ParseMode(*modeFlag)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rt, err := sam.NewRuntime("")
	if err != nil {
		return err
	}
	defer rt.Close()
	c := rt.CUDA()
	log.Info("framebench: runtime", "onnxruntime", rt.Version(), "library", rt.LibraryPath(), "cuda_usable", c.Usable(),
		"cuda_err", c.Err, "driver", c.Driver, "cuda_dirs", c.Dirs, "cuda_loaded", c.Loaded)
	m, err := sam.Open(rt, *modelDir, sam.Options{Provider: *provider, TF32: *tf32, Resident: *resident, CUDAOptions: cudaOpts, Profile: *ortProfile, Logger: log})
	if err != nil {
		return err
	}
	defer m.Close()
	size := m.Manifest().ImageSize
	clip, err := loadFrames(*framesDir, size)
	if err != nil {
		return err
	}
	rep := bench.Report{Input: *framesDir, Width: clip[0].Width, Height: clip[0].Height, Model: *modelDir,
		Variant: m.Manifest().Variant, Random: m.Manifest().Fixture != nil, Provider: m.Provider(),
		Mode: mode.String(), CPUs: runtime.NumCPU()}
	for _, n := range counts {
		r, err := bench.Measure(context.Background(), m, bench.Frames{Source: clip, Width: clip[0].Width,
			Height: clip[0].Height, Count: len(clip)}, mode, n, *frames, 0, log)
		if err != nil {
			return err
		}
		rep.Runs = append(rep.Runs, r)
		fmt.Fprintf(os.Stderr, "framebench: %d object(s): %.2f frames/s\n", n, r.FPS)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	bench.Print(os.Stdout, rep)
	return nil
}

// frameSlice serves frames held in memory.
type frameSlice []*video.Frame

func (s frameSlice) Frame(_ context.Context, i int) (*video.Frame, error) {
	if i < 0 || i >= len(s) {
		return nil, fmt.Errorf("frame %d of %d: %w", i, len(s), tracker.ErrFrameRange)
	}
	return s[i], nil
}

// loadFrames decodes the folder's frames with their model-size input
// (bilinear, aspect not kept, as decode scales for the model).
func loadFrames(dir string, size int) (frameSlice, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .jpg or .png frames", dir)
	}
	var out frameSlice
	for i, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b := img.Bounds()
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		fr := &video.Frame{Index: i, Width: b.Dx(), Height: b.Dy(), RGB: packRGB(rgba), Model: resize(rgba, size)}
		out = append(out, fr)
	}
	return out, nil
}

func packRGB(img *image.RGBA) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := make([]byte, 0, w*h*3)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := 0; x < w*4; x += 4 {
			out = append(out, row[x], row[x+1], row[x+2])
		}
	}
	return out
}

// resize scales img to size x size rgb24, bilinear with centred samples.
func resize(img *image.RGBA, size int) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := make([]byte, size*size*3)
	sx, sy := float64(w)/float64(size), float64(h)/float64(size)
	for y := range size {
		fy := max((float64(y)+0.5)*sy-0.5, 0)
		y0 := min(int(fy), h-1)
		y1 := min(y0+1, h-1)
		wy := fy - float64(y0)
		for x := range size {
			fx := max((float64(x)+0.5)*sx-0.5, 0)
			x0 := min(int(fx), w-1)
			x1 := min(x0+1, w-1)
			wx := fx - float64(x0)
			for c := range 3 {
				p := func(xx, yy int) float64 { return float64(img.Pix[yy*img.Stride+xx*4+c]) }
				v := (p(x0, y0)*(1-wx)+p(x1, y0)*wx)*(1-wy) + (p(x0, y1)*(1-wx)+p(x1, y1)*wx)*wy
				out[(y*size+x)*3+c] = byte(v + 0.5)
			}
		}
	}
	return out
}
