package web

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/stream"
)

// Downloads of an edit session's tracked frames, in the formats of
// `vidseg track` (docs/cli.md): masks.json (COCO RLE, format
// vidseg-masks/1), tracks.jsonl, the DAVIS indexed PNGs (masks/00000.png,
// pixel = object id) as masks.zip, and overlay.mp4 (H.264).
//
// TODO(arch): write these with the library that cmd/vidseg's trackOutput
// moves to (issue 14) instead of this second writer of the same format.

const resultsFormat = "vidseg-masks/1"

type resultObject struct {
	ID           int       `json:"id"`
	Segmentation *mask.RLE `json:"segmentation,omitempty"`
	Area         int       `json:"area"`
	BBox         *[4]int   `json:"bbox,omitempty"` // masks.json: COCO [x, y, w, h]
	Box          *[4]int   `json:"box,omitempty"`  // tracks.jsonl: [x0, y0, x1, y1)
	IoU          float32   `json:"iou"`
	ObjectScore  float32   `json:"object_score"`
	Present      bool      `json:"present"`
}

type resultFrame struct {
	Frame   int            `json:"frame"`
	Objects []resultObject `json:"objects"`
}

type resultsDoc struct {
	Format  string        `json:"format"`
	Video   string        `json:"video"`
	Width   int           `json:"width"`
	Height  int           `json:"height"`
	FPS     float64       `json:"fps"`
	Frames  int           `json:"frames"`
	Objects []int         `json:"objects"`
	Results []resultFrame `json:"results"`
}

// snapshot copies the tracked frames' results (their slices are never
// modified once stored).
func (e *editor) snapshot() map[int][]stream.ObjectMeta {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.results)
}

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request, ss *Session) {
	name := r.PathValue("name")
	res := ss.ed.snapshot()
	if len(res) == 0 {
		writeError(w, http.StatusConflict, errors.New("results: nothing tracked yet: click an object, then track"))
		return
	}
	doc, err := ss.ed.document(res)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("results: %w", err))
		return
	}
	base := strings.TrimSuffix(filepath.Base(ss.Name), filepath.Ext(ss.Name))
	attach := func(ctype, file string) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", base+"-"+file))
	}
	switch name {
	case "masks.json":
		attach("application/json", name)
		_ = json.NewEncoder(w).Encode(doc)
	case "tracks.jsonl":
		attach("application/x-ndjson", name)
		enc := json.NewEncoder(w)
		for _, fr := range doc.Results {
			out := resultFrame{Frame: fr.Frame, Objects: []resultObject{}}
			for _, o := range fr.Objects {
				o.Segmentation = nil
				if b := o.BBox; b != nil {
					o.Box = &[4]int{b[0], b[1], b[0] + b[2], b[1] + b[3]}
					o.BBox = nil
				}
				out.Objects = append(out.Objects, o)
			}
			if err := enc.Encode(out); err != nil {
				return
			}
		}
	case "masks.zip":
		attach("application/zip", name)
		if err := ss.ed.writePNGZip(w, res); err != nil {
			s.cfg.Logger.Info("masks.zip failed", "session", ss.ID, "err", err)
		}
	case "overlay.mp4":
		p, err := s.writeOverlay(r.Context(), ss, res)
		if err != nil {
			writeError(w, statusOf(err), fmt.Errorf("overlay.mp4: %w", err))
			return
		}
		defer os.Remove(p)
		f, err := os.Open(p)
		if err != nil {
			writeError(w, http.StatusInternalServerError, errors.New("overlay.mp4: the rendered file is gone"))
			return
		}
		defer f.Close()
		attach("video/mp4", name)
		_, _ = io.Copy(w, f)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no result %q: want masks.json, tracks.jsonl, masks.zip or overlay.mp4", name))
	}
}

// document builds masks.json from the tracked frames.
func (e *editor) document(res map[int][]stream.ObjectMeta) (*resultsDoc, error) {
	info := e.s.Info
	doc := &resultsDoc{Format: resultsFormat, Video: e.s.Name, Width: info.Width, Height: info.Height, FPS: info.FPS,
		Frames: e.frames, Objects: []int{}, Results: []resultFrame{}}
	ids := map[int]bool{}
	for _, f := range slices.Sorted(maps.Keys(res)) {
		fr := resultFrame{Frame: f, Objects: []resultObject{}}
		objs := slices.Clone(res[f])
		slices.SortFunc(objs, func(a, b stream.ObjectMeta) int { return a.ID - b.ID })
		for _, o := range objs {
			if o.RLE == nil {
				continue
			}
			rle := *o.RLE
			if rle.Width != info.Width || rle.Height != info.Height {
				return nil, fmt.Errorf("frame %d object %d: mask is %dx%d, the video %dx%d", f, o.ID, rle.Width, rle.Height, info.Width, info.Height)
			}
			ro := resultObject{ID: o.ID, Segmentation: &rle, Area: rle.Area(), IoU: o.IoU, ObjectScore: o.Score, Present: o.Present}
			if ro.Area > 0 {
				b := rle.BBox()
				ro.BBox = &[4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()}
			}
			ids[o.ID] = true
			fr.Objects = append(fr.Objects, ro)
		}
		doc.Results = append(doc.Results, fr)
	}
	doc.Objects = slices.Sorted(maps.Keys(ids))
	if doc.Objects == nil {
		doc.Objects = []int{}
	}
	return doc, nil
}

// labels is frame f's label image: pixel = object id, the higher id where
// objects overlap (as vidseg track's PNGs).
func labels(objs []stream.ObjectMeta, w, h int) ([]byte, error) {
	out := make([]byte, w*h)
	sorted := slices.Clone(objs)
	slices.SortFunc(sorted, func(a, b stream.ObjectMeta) int { return a.ID - b.ID })
	for _, o := range sorted {
		if o.RLE == nil || o.ID < 1 || o.ID > 255 {
			continue
		}
		if o.RLE.Width != w || o.RLE.Height != h {
			return nil, fmt.Errorf("object %d: mask is %dx%d, the video %dx%d", o.ID, o.RLE.Width, o.RLE.Height, w, h)
		}
		m, err := o.RLE.Decode()
		if err != nil {
			return nil, err
		}
		for i, v := range m {
			if v != 0 {
				out[i] = byte(o.ID)
			}
		}
	}
	return out, nil
}

// writePNGZip writes one DAVIS PNG per frame of the video (empty where
// nothing was tracked, so evaluation sees every frame).
func (e *editor) writePNGZip(w io.Writer, res map[int][]stream.ObjectMeta) error {
	zw := zip.NewWriter(w)
	W, H := e.s.Info.Width, e.s.Info.Height
	for f := range e.frames {
		lab, err := labels(res[f], W, H)
		if err != nil {
			return fmt.Errorf("frame %d: %w", f, err)
		}
		fw, err := zw.Create(fmt.Sprintf("masks/%05d.png", f))
		if err != nil {
			return err
		}
		if err := mask.EncodePNG(fw, lab, W, H); err != nil {
			return fmt.Errorf("frame %d: %w", f, err)
		}
	}
	return zw.Close()
}

// writeOverlay renders the video with the tracked masks burned in to a
// temporary MP4 and returns its path (the caller removes it).
func (s *Server) writeOverlay(ctx context.Context, ss *Session, res map[int][]stream.ObjectMeta) (string, error) {
	dec, err := decode.Open(ctx, ss.path, decode.Options{Formats: decode.VideoFormats})
	if err != nil {
		return "", err
	}
	defer dec.Close()
	info := ss.Info
	fps := info.FPS
	if fps <= 0 || fps > 240 {
		fps = 25
	}
	tmp, err := os.CreateTemp(s.cfg.UploadDir, "vidseg-overlay-*.mp4")
	if err != nil {
		return "", err
	}
	path := tmp.Name()
	tmp.Close()
	fw, err := encode.Create(path, encode.Options{Codec: "h264", Width: info.Width, Height: info.Height, FPS: fps})
	if err != nil {
		os.Remove(path)
		return "", err
	}
	out := make([]byte, info.Width*info.Height*3)
	fail := func(err error) (string, error) {
		_ = fw.Close()
		os.Remove(path)
		return "", err
	}
	for i := 0; i < ss.ed.frames; i++ {
		f, err := dec.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(fmt.Errorf("frame %d: %w", i, err))
		}
		copy(out, f.RGB)
		f.Release()
		if m := decodeMasks(res[i]); len(m) > 0 {
			if err := stream.Composite(out, info.Width, info.Height, m); err != nil {
				return fail(err)
			}
		}
		if err := fw.WriteFrame(out); err != nil {
			return fail(fmt.Errorf("frame %d: %w", i, err))
		}
	}
	if err := fw.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
