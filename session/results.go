package session

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

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

// snapshot copies the tracked frames' results, less the stale ones
// (their slices are never modified once stored).
func (e *editor) snapshot() map[int][]stream.ObjectMeta {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := maps.Clone(e.results)
	for f := range e.stale {
		delete(out, f)
	}
	return out
}

// Results is a snapshot of an edit session's tracked frames, for download.
type Results struct {
	s   *Session
	res map[int][]stream.ObjectMeta
	// Doc is masks.json.
	Doc *results.Doc
}

// Results snapshots an edit session's tracked frames.
func (s *Session) Results() (*Results, error) {
	if s.ed == nil {
		return nil, s.notEdit()
	}
	res := s.ed.snapshot()
	if len(res) == 0 {
		return nil, &kindError{ErrConflict, errors.New("results: nothing tracked yet: click an object, then track")}
	}
	doc, err := s.ed.document(res)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return &Results{s: s, res: res, Doc: doc}, nil
}

// WritePNGZip writes masks.zip: one DAVIS PNG per frame of the video.
func (r *Results) WritePNGZip(w io.Writer) error { return r.s.ed.writePNGZip(w, r.Doc) }

// OverlayOptions say how overlay.mp4 draws the objects, as the page
// does: its effect, the objects it hides, and the colours, opacities
// and outlines chosen there (by object id; the palette's for others).
type OverlayOptions struct {
	Effect overlay.Effect
	Hide   []int
	Styles map[int]overlay.Style
}

// RenderOverlay renders overlay.mp4 into a temporary file in dir and
// returns its path (the caller removes it).
func (r *Results) RenderOverlay(ctx context.Context, dir string, opts OverlayOptions) (string, error) {
	return r.s.writeOverlay(ctx, dir, r.res, opts)
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
// temporary MP4 in dir and returns its path (the caller removes it).
func (ss *Session) writeOverlay(ctx context.Context, dir string, res map[int][]stream.ObjectMeta, opts OverlayOptions) (string, error) {
	tmp, err := os.CreateTemp(dir, "vidseg-overlay-*.mp4")
	if err != nil {
		return "", err
	}
	path := tmp.Name()
	tmp.Close()
	masks := func(frame, _, _ int) ([]overlay.ObjectMask, error) {
		ms := slices.DeleteFunc(decodeMasks(res[frame]), func(m overlay.ObjectMask) bool { return slices.Contains(opts.Hide, m.ID) })
		for i := range ms {
			if st, ok := opts.Styles[ms[i].ID]; ok {
				ms[i].Style = &st
			}
		}
		return ms, nil
	}
	if err := results.Overlay(ctx, path, ss.path, decode.Options{Formats: decode.VideoFormats}, ss.ed.frames, masks, opts.Effect, nil); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
