// Package results writes what `vidseg track` produces in its output
// folder: one DAVIS indexed PNG per frame, masks.json (COCO RLE),
// tracks.jsonl and overlay.mp4, drawn with the live view's renderer
// (overlay). The web app's downloads of an edit session use the same
// types and writers.
package results

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/tracker"
)

// Output files, all inside the output folder.
const (
	MasksDir   = "masks"        // masks/00000.png: DAVIS indexed PNG, index = object id
	MasksJSON  = "masks.json"   // COCO RLE per frame per object
	TracksFile = "tracks.jsonl" // one JSON line per frame: box, IoU, object score, present
	OverlayMP4 = "overlay.mp4"  // H.264, masks blended in object colors
	// MasksLog holds each finished frame's masks.json record, one JSON line
	// appended per frame in the order frames finish, so a killed run keeps
	// them; masks.json is assembled from it at the end or on --resume.
	MasksLog = "masks.jsonl"
	RunFile  = "run.json" // the prompts and settings, for --resume
)

// OutputNames are the files and folders a track run writes: --overwrite
// clears a folder holding only these (and their temporary siblings).
var OutputNames = []string{MasksDir, MasksJSON, TracksFile, OverlayMP4, MasksLog, RunFile}

// MaskName is DAVIS's file naming: five-digit zero-padded frame index.
func MaskName(frame int) string { return fmt.Sprintf("%05d.png", frame) }

// Object is one object on one frame in masks.json and tracks.jsonl.
type Object struct {
	ID           int       `json:"id"`
	Segmentation *mask.RLE `json:"segmentation,omitempty"` // masks.json only
	Area         int       `json:"area"`
	// BBox is COCO's [x, y, width, height] in masks.json; Box is
	// [x0, y0, x1, y1) in tracks.jsonl. Both null when the mask is empty.
	BBox         *[4]int  `json:"bbox,omitempty"`
	Box          *[4]int  `json:"box,omitempty"`
	IoU          float32  `json:"iou"`
	ObjectScore  float32  `json:"object_score"`
	Present      bool     `json:"present"`
	Candidate    *int     `json:"candidate,omitempty"`
	KalmanScore  *float32 `json:"kalman_score,omitempty"`
	Conditioning bool     `json:"conditioning,omitempty"`
}

// NewObject is object id's record of its source-size mask rle (of area
// pixels) and scores, its box taken from the mask.
func NewObject(id int, rle mask.RLE, area int, iou, objectScore float32, present bool) Object {
	o := Object{ID: id, Segmentation: &rle, Area: area, IoU: iou, ObjectScore: objectScore, Present: present}
	if area > 0 {
		b := rle.BBox()
		o.BBox = &[4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()}
	}
	return o
}

// Frame is one frame's objects: a line of tracks.jsonl and masks.jsonl, a
// result of masks.json.
type Frame struct {
	Frame int `json:"frame"`
	// PTS is the frame's presentation time in the source, in seconds from
	// the stream start (ffprobe's pts_time less start_time).
	PTS     *float64 `json:"pts,omitempty"`
	Objects []Object `json:"objects"`
	// Unreached marks a frame no propagation pass reached (before the
	// first prompt tracked forward, after the last tracked backward): it
	// has no objects and an empty PNG.
	Unreached bool `json:"unreached,omitempty"`
}

// Doc is masks.json.
type Doc struct {
	Format  string  `json:"format"`
	Video   string  `json:"video"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	Frames  int     `json:"frames"` // frames tracked (after a failure: those finished)
	Objects []int   `json:"objects"`
	Results []Frame `json:"results"`
}

// MasksFormat is the "format" of masks.json.
const MasksFormat = "vidseg-masks/1"

// Writer writes each frame's PNG, tracks.jsonl line and masks.jsonl
// record as the frame finishes, so that a killed run keeps every finished
// frame in every format. At the end it writes masks.json and rewrites
// tracks.jsonl in frame order (a backward pass delivers frames out of
// order, and --both delivers its start frame twice: the last one counts).
type Writer struct {
	dir    string
	video  string
	w, h   int
	fps    float64
	frames int

	labels  []byte
	records map[int]Frame
	objects map[int]bool
	// PTS, when set, gives each frame's source timestamp for tracks.jsonl.
	PTS func(frame int) (time.Duration, bool)

	tracks, log *os.File // tracks.jsonl and masks.jsonl, appended per frame
	// skip is how many results a resumed run finds already recorded: the
	// tracker produces them again (its memory needs them), unwritten.
	skip, produced int
}

// NewWriter starts the results in dir (and dir/masks) of video, a w x h
// clip at fps of which frames are tracked; resume continues those of an
// interrupted run, whose masks.jsonl says which results are finished.
func NewWriter(dir, video string, w, h int, fps float64, frames int, resume bool) (*Writer, error) {
	if err := os.MkdirAll(filepath.Join(dir, MasksDir), 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	o := &Writer{
		dir: dir, video: video, w: w, h: h, fps: fps,
		frames: frames, labels: make([]byte, w*h),
		records: map[int]Frame{}, objects: map[int]bool{},
	}
	var steps []Frame
	if resume {
		var err error
		if steps, err = readMasksLog(filepath.Join(dir, MasksLog)); err != nil {
			return nil, err
		}
		for _, rec := range steps {
			o.records[rec.Frame] = rec
			for _, r := range rec.Objects {
				o.objects[r.ID] = true
			}
		}
		o.skip = len(steps)
	}
	// Rewrite both logs from the finished records: a kill may have cut a
	// line short or left a tracks.jsonl line without its masks record.
	for _, f := range []struct {
		name string
		line func(Frame) Frame
		dst  **os.File
	}{{MasksLog, masksRecord, &o.log}, {TracksFile, Frame.Tracks, &o.tracks}} {
		path := filepath.Join(dir, f.name)
		err := writeFileWith(path, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			for _, rec := range steps {
				if err := enc.Encode(f.line(rec)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			o.Close()
			return nil, err
		}
		if *f.dst, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
			o.Close()
			return nil, fmt.Errorf("output: %w", err)
		}
	}
	return o, nil
}

// readMasksLog reads the finished records of masks.jsonl, in the order
// they finished; a last line cut short by a kill is not finished.
func readMasksLog(path string) ([]Frame, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var out []Frame
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		if !complete {
			break
		}
		var rec Frame
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("resume: %s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// Close closes the per-frame logs (Finish and FinishPartial do too).
func (o *Writer) Close() error {
	var err error
	for _, f := range []**os.File{&o.tracks, &o.log} {
		if *f != nil {
			if cerr := (*f).Close(); err == nil && cerr != nil {
				err = fmt.Errorf("output: %w", cerr)
			}
			*f = nil
		}
	}
	return err
}

// masksRecord is a frame's record as masks.json (and masks.jsonl) hold it.
func masksRecord(rec Frame) Frame {
	out := Frame{Frame: rec.Frame, PTS: rec.PTS, Objects: []Object{}, Unreached: rec.Unreached}
	for _, r := range rec.Objects {
		out.Objects = append(out.Objects, Object{
			ID: r.ID, Segmentation: r.Segmentation, Area: r.Area, BBox: r.BBox,
			IoU: r.IoU, ObjectScore: r.ObjectScore, Present: r.Present,
			Candidate: r.Candidate, KalmanScore: r.KalmanScore, Conditioning: r.Conditioning,
		})
	}
	return out
}

// Tracks is the frame's tracks.jsonl line: no masks, boxes as corners.
func (rec Frame) Tracks() Frame {
	out := Frame{Frame: rec.Frame, PTS: rec.PTS, Objects: []Object{}, Unreached: rec.Unreached}
	for _, r := range rec.Objects {
		r.Segmentation = nil
		if r.BBox != nil {
			b := *r.BBox
			r.Box = &[4]int{b[0], b[1], b[0] + b[2], b[1] + b[3]}
			r.BBox = nil
		}
		out.Objects = append(out.Objects, r)
	}
	return out
}

// WriteTracks writes tracks.jsonl: each frame's Tracks line, in order.
func WriteTracks(w io.Writer, frames []Frame) error {
	enc := json.NewEncoder(w)
	for _, f := range frames {
		if err := enc.Encode(f.Tracks()); err != nil {
			return err
		}
	}
	return nil
}

// Labels is a frame's DAVIS label image, decoded from its objects' masks:
// pixel = object id, the higher id where objects overlap (as Writer's
// PNGs). Objects without a mask or an id outside 1..255 are left out.
func Labels(objs []Object, w, h int) ([]byte, error) {
	out := make([]byte, w*h)
	sorted := slices.Clone(objs)
	slices.SortFunc(sorted, func(a, b Object) int { return a.ID - b.ID })
	for _, o := range sorted {
		rle := o.Segmentation
		if rle == nil || o.ID < 1 || o.ID > 255 {
			continue
		}
		if rle.Width != w || rle.Height != h {
			return nil, fmt.Errorf("object %d: mask is %dx%d, the video %dx%d", o.ID, rle.Width, rle.Height, w, h)
		}
		m, err := rle.Decode()
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

// appendLine writes one JSON line with a single write, so a killed process
// leaves whole lines (the kernel keeps what was written).
func appendLine(f *os.File, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// Add turns one frame's masks into the label PNG and the records.
// Where objects overlap the PNG keeps the higher object id; masks.json
// keeps every object's own full mask.
func (o *Writer) Add(res *tracker.FrameResult) error {
	o.produced++
	if o.produced <= o.skip {
		return nil // finished before the interruption
	}
	if res.Width != o.w || res.Height != o.h {
		return fmt.Errorf("output: frame %d is %dx%d, expected %dx%d", res.Frame, res.Width, res.Height, o.w, o.h)
	}
	clear(o.labels)
	objs := slices.Clone(res.Objects)
	slices.SortFunc(objs, func(a, b tracker.ObjectResult) int { return a.Object - b.Object })
	rec := Frame{Frame: res.Frame}
	if o.PTS != nil {
		if pts, ok := o.PTS(res.Frame); ok {
			sec := pts.Seconds()
			rec.PTS = &sec
		}
	}
	for _, r := range objs {
		if r.Object < 1 || r.Object > 255 {
			return fmt.Errorf("output: object id %d does not fit a DAVIS PNG (1..255)", r.Object)
		}
		o.objects[r.Object] = true
		if len(r.Mask) != len(o.labels) {
			return fmt.Errorf("output: frame %d object %d: mask of %d pixels, want %dx%d", res.Frame, r.Object, len(r.Mask), o.w, o.h)
		}
		area := 0
		for i, v := range r.Mask {
			if v != 0 {
				o.labels[i] = byte(r.Object)
				area++
			}
		}
		or := NewObject(r.Object, r.RLE, area, r.IoU, r.ObjectScore, r.Present())
		cand, kf := r.Candidate, r.KalmanScore
		or.Candidate, or.KalmanScore, or.Conditioning = &cand, &kf, r.Conditioning
		rec.Objects = append(rec.Objects, or)
	}
	o.records[res.Frame] = rec
	if err := o.writePNG(res.Frame, o.labels); err != nil {
		return err
	}
	// masks.jsonl last: its record says the frame is finished.
	if err := appendLine(o.tracks, rec.Tracks()); err != nil {
		return err
	}
	return appendLine(o.log, rec)
}

func (o *Writer) writePNG(frame int, labels []byte) error {
	path := filepath.Join(o.dir, MasksDir, MaskName(frame))
	var buf bytes.Buffer
	if err := mask.EncodePNG(&buf, labels, o.w, o.h); err != nil {
		return fmt.Errorf("output: %s: %w", path, err)
	}
	// Beside and renamed: a kill never leaves half a PNG.
	tmp := path + ".part"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// Finish fills frames without a result, those no pass reached, with
// empty masks (so DAVIS evaluation sees every frame) and Unreached records,
// and writes masks.json and tracks.jsonl: every output holds one entry per
// frame.
func (o *Writer) Finish() error { return o.finish(true) }

// Truncate ends the video at frames, fewer than NewWriter was told: the
// input could not be decoded past them.
func (o *Writer) Truncate(frames int) {
	o.frames = min(o.frames, frames)
	for i := range o.records {
		if i >= o.frames {
			delete(o.records, i)
		}
	}
}

// Skipped is how many results a resumed run found already recorded.
func (o *Writer) Skipped() int { return o.skip }

// Tracked is how many frames have results.
func (o *Writer) Tracked() int { return len(o.records) }

// FinishPartial writes masks.json and tracks.jsonl for the frames tracked
// so far, after a failure or an interrupt, without inventing empty masks
// for frames never reached.
func (o *Writer) FinishPartial() error { return o.finish(false) }

func (o *Writer) finish(complete bool) error {
	if err := o.Close(); err != nil {
		return err
	}
	clear(o.labels)
	for i := range o.frames {
		if _, ok := o.records[i]; !ok && complete {
			if err := o.writePNG(i, o.labels); err != nil {
				return err
			}
			rec := Frame{Frame: i, Objects: []Object{}, Unreached: true}
			if o.PTS != nil {
				if pts, ok := o.PTS(i); ok {
					sec := pts.Seconds()
					rec.PTS = &sec
				}
			}
			o.records[i] = rec
		}
	}
	idx := make([]int, 0, len(o.records))
	for i := range o.records {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	doc := Doc{Format: MasksFormat, Video: o.video, Width: o.w, Height: o.h, FPS: o.fps, Frames: o.frames}
	if !complete {
		doc.Frames = len(o.records) // what was tracked, not what was asked for
	}
	for id := range o.objects {
		doc.Objects = append(doc.Objects, id)
	}
	slices.Sort(doc.Objects)
	recs := make([]Frame, len(idx))
	for k, i := range idx {
		recs[k] = o.records[i]
		rec := masksRecord(recs[k])
		for k := range rec.Objects { // masks.json keeps the COCO fields
			r := &rec.Objects[k]
			r.Candidate, r.KalmanScore, r.Conditioning = nil, nil, false
		}
		doc.Results = append(doc.Results, rec)
	}
	if err := WriteFileAtomic(filepath.Join(o.dir, MasksJSON), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(doc)
	}); err != nil {
		return err
	}
	err := WriteFileAtomic(filepath.Join(o.dir, TracksFile), func(w io.Writer) error {
		return WriteTracks(w, recs)
	})
	if err != nil || !complete {
		return err // an interrupted run keeps masks.jsonl for --resume
	}
	if err := os.Remove(filepath.Join(o.dir, MasksLog)); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// WriteFileAtomic writes path beside it and renames it into place, so a
// reader (or a kill) never sees half a file.
func WriteFileAtomic(path string, fn func(io.Writer) error) error {
	tmp := path + ".part"
	if err := writeFileWith(tmp, fn); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// writeFileWith writes path through a buffered writer and reports the
// first error of writing, flushing or closing.
func writeFileWith(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("output: %s: %w", path, err)
	}
	return nil
}

// WriteOverlay decodes the video again from the start and draws the label
// PNGs of dir over it into dir/overlay.mp4 (see Overlay). A second decode
// is cheap next to inference and means no frames are held in memory across
// passes. onFrame, if not nil, is called after each frame written.
func WriteOverlay(ctx context.Context, dir, input string, frames int, onFrame func()) error {
	masks := func(frame, w, h int) ([]overlay.ObjectMask, error) {
		png := filepath.Join(dir, MasksDir, MaskName(frame))
		labels, lw, lh, err := mask.ReadPNG(png)
		if err == nil && (lw != w || lh != h) {
			err = fmt.Errorf("%s is %dx%d, the video %dx%d", png, lw, lh, w, h)
		}
		return objectMasks(labels), err
	}
	if err := Overlay(ctx, filepath.Join(dir, OverlayMP4), input, decode.Options{}, frames, masks, overlay.Highlight, onFrame); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// Overlay decodes the first frames of input (opened with opts) and draws
// each frame's masks over it into an H.264 MP4 at path, in the live view's
// colors, with effect (overlay.Render: overlay.Highlight blends as the
// live view, overlay.Composite). Each frame keeps its source
// timestamp (a variable-rate video stays so); an odd size is coded a
// column/row larger (see encode.Options). After an error the file at path
// holds what was written (the caller decides whether to keep it).
func Overlay(ctx context.Context, path, input string, opts decode.Options, frames int,
	masks func(frame, w, h int) ([]overlay.ObjectMask, error), effect overlay.Effect, onFrame func()) (err error) {
	dec, err := decode.Open(ctx, input, opts)
	if err != nil {
		return err
	}
	defer dec.Close()
	info := dec.Info()
	fps := info.FPS
	if fps <= 0 || fps > 240 { // unknown, or a timebase taken for a rate
		fps = 25
	}
	w, err := encode.Create(path, encode.Options{Codec: "h264", Width: info.Width, Height: info.Height, FPS: fps, Timescale: 90000})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	out := make([]byte, info.Width*info.Height*3)
	for i := 0; i < frames; i++ {
		f, err := dec.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		m, err := masks(f.Index, info.Width, info.Height)
		if err != nil {
			f.Release()
			return err
		}
		copy(out, f.RGB)
		pts := f.PTS
		f.Release()
		if err := overlay.Render(out, info.Width, info.Height, m, effect); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if err := w.WriteFrameAt(out, pts); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if onFrame != nil {
			onFrame()
		}
	}
	return w.Close()
}

// objectMasks splits a label map into one binary mask per object id, in
// id order (where objects overlapped the PNG kept the higher id).
func objectMasks(labels []byte) []overlay.ObjectMask {
	var byID [256][]byte
	for i, l := range labels {
		if l == 0 {
			continue
		}
		if byID[l] == nil {
			byID[l] = make([]byte, len(labels))
		}
		byID[l][i] = 1
	}
	var out []overlay.ObjectMask
	for id, m := range byID {
		if m != nil {
			out = append(out, overlay.ObjectMask{ID: id, Mask: m})
		}
	}
	return out
}
