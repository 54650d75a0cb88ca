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
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/stream"
)

// Downloads of an edit session's tracked frames, in the formats of
// `vidseg track` (docs/cli.md), written by its results package:
// masks.json (COCO RLE, format vidseg-masks/1), tracks.jsonl, the DAVIS
// indexed PNGs (masks/00000.png, pixel = object id) as masks.zip, and
// overlay.mp4 (H.264).

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
		_ = results.WriteTracks(w, doc.Results)
	case "masks.zip":
		attach("application/zip", name)
		if err := ss.ed.writePNGZip(w, doc); err != nil {
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
func (e *editor) document(res map[int][]stream.ObjectMeta) (*results.Doc, error) {
	info := e.s.Info
	doc := &results.Doc{Format: results.MasksFormat, Video: e.s.Name, Width: info.Width, Height: info.Height, FPS: info.FPS,
		Frames: e.frames, Objects: []int{}, Results: []results.Frame{}}
	ids := map[int]bool{}
	for _, f := range slices.Sorted(maps.Keys(res)) {
		fr := results.Frame{Frame: f, Objects: []results.Object{}}
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
			ids[o.ID] = true
			fr.Objects = append(fr.Objects, results.NewObject(o.ID, rle, rle.Area(), o.IoU, o.Score, o.Present))
		}
		doc.Results = append(doc.Results, fr)
	}
	if len(ids) > 0 {
		doc.Objects = slices.Sorted(maps.Keys(ids))
	}
	return doc, nil
}

// writePNGZip writes one DAVIS PNG per frame of the video (empty where
// nothing was tracked, so evaluation sees every frame).
func (e *editor) writePNGZip(w io.Writer, doc *results.Doc) error {
	zw := zip.NewWriter(w)
	byFrame := make(map[int][]results.Object, len(doc.Results))
	for _, fr := range doc.Results {
		byFrame[fr.Frame] = fr.Objects
	}
	for f := range e.frames {
		lab, err := results.Labels(byFrame[f], doc.Width, doc.Height)
		if err != nil {
			return fmt.Errorf("frame %d: %w", f, err)
		}
		fw, err := zw.Create(results.MasksDir + "/" + results.MaskName(f))
		if err != nil {
			return err
		}
		if err := mask.EncodePNG(fw, lab, doc.Width, doc.Height); err != nil {
			return fmt.Errorf("frame %d: %w", f, err)
		}
	}
	return zw.Close()
}

// writeOverlay renders the video with the tracked masks burned in to a
// temporary MP4 and returns its path (the caller removes it).
func (s *Server) writeOverlay(ctx context.Context, ss *Session, res map[int][]stream.ObjectMeta) (string, error) {
	tmp, err := os.CreateTemp(s.cfg.UploadDir, "vidseg-overlay-*.mp4")
	if err != nil {
		return "", err
	}
	path := tmp.Name()
	tmp.Close()
	masks := func(frame, _, _ int) ([]overlay.ObjectMask, error) { return decodeMasks(res[frame]), nil }
	if err := results.Overlay(ctx, path, ss.path, decode.Options{Formats: decode.VideoFormats}, ss.ed.frames, masks, nil); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
