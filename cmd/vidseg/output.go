package main

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
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/tracker"
)

// Output files of `vidseg track`, all inside --out DIR.
const (
	masksDir   = "masks"        // masks/00000.png: DAVIS indexed PNG, index = object id
	masksJSON  = "masks.json"   // COCO RLE per frame per object
	tracksFile = "tracks.jsonl" // one JSON line per frame: box, IoU, object score, present
	overlayMP4 = "overlay.mp4"  // H.264, masks blended in object colors
	// masksLog holds each finished frame's masks.json record, one JSON line
	// appended per frame in the order frames finish, so a killed run keeps
	// them; masks.json is assembled from it at the end or on --resume.
	masksLog = "masks.jsonl"
	runFile  = "run.json" // the prompts and settings, for --resume
)

// outputNames are the files and folders a track run writes: --overwrite
// clears a folder holding only these (and their temporary siblings).
var outputNames = []string{masksDir, masksJSON, tracksFile, overlayMP4, masksLog, runFile}

// maskName is DAVIS's file naming: five-digit zero-padded frame index.
func maskName(frame int) string { return fmt.Sprintf("%05d.png", frame) }

// objectRecord is one object on one frame in masks.json and tracks.jsonl.
type objectRecord struct {
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

type frameRecord struct {
	Frame int `json:"frame"`
	// PTS is the frame's presentation time in the source, in seconds from
	// the stream start (ffprobe's pts_time less start_time).
	PTS     *float64       `json:"pts,omitempty"`
	Objects []objectRecord `json:"objects"`
}

// masksDoc is masks.json.
type masksDoc struct {
	Format  string        `json:"format"`
	Video   string        `json:"video"`
	Width   int           `json:"width"`
	Height  int           `json:"height"`
	FPS     float64       `json:"fps"`
	Frames  int           `json:"frames"` // frames tracked (after a failure: those finished)
	Objects []int         `json:"objects"`
	Results []frameRecord `json:"results"`
}

const masksFormat = "vidseg-masks/1"

// trackOutput writes each frame's PNG, tracks.jsonl line and masks.jsonl
// record as the frame finishes, so that a killed run keeps every finished
// frame in every format. At the end it writes masks.json and rewrites
// tracks.jsonl in frame order (a backward pass delivers frames out of
// order, and --both delivers its start frame twice: the last one counts).
type trackOutput struct {
	dir      string
	video    string
	w, h     int
	fps      float64
	frames   int
	maskSize int

	bin     []byte // one object's source-size mask
	labels  []byte
	records map[int]frameRecord
	objects map[int]bool
	pts     func(frame int) (time.Duration, bool) // source timestamps; nil: none

	tracks, log *os.File // tracks.jsonl and masks.jsonl, appended per frame
	// skip is how many results a resumed run finds already recorded: the
	// tracker produces them again (its memory needs them), unwritten.
	skip, produced int
}

// newTrackOutput starts the outputs in dir; resume continues those of an
// interrupted run, whose masks.jsonl says which results are finished.
func newTrackOutput(dir, video string, info decode.Info, frames, maskSize int, resume bool) (*trackOutput, error) {
	if err := os.MkdirAll(filepath.Join(dir, masksDir), 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	n := info.Width * info.Height
	o := &trackOutput{
		dir: dir, video: video, w: info.Width, h: info.Height, fps: info.FPS,
		frames: frames, maskSize: maskSize,
		bin: make([]byte, n), labels: make([]byte, n),
		records: map[int]frameRecord{}, objects: map[int]bool{},
	}
	var steps []frameRecord
	if resume {
		var err error
		if steps, err = readMasksLog(filepath.Join(dir, masksLog)); err != nil {
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
		line func(frameRecord) frameRecord
		dst  **os.File
	}{{masksLog, masksRecord, &o.log}, {tracksFile, tracksRecord, &o.tracks}} {
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
func readMasksLog(path string) ([]frameRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var out []frameRecord
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		if !complete {
			break
		}
		var rec frameRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("resume: %s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// Close closes the per-frame logs (Finish and FinishPartial do too).
func (o *trackOutput) Close() error {
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
func masksRecord(rec frameRecord) frameRecord {
	out := frameRecord{Frame: rec.Frame, PTS: rec.PTS, Objects: []objectRecord{}}
	for _, r := range rec.Objects {
		out.Objects = append(out.Objects, objectRecord{
			ID: r.ID, Segmentation: r.Segmentation, Area: r.Area, BBox: r.BBox,
			IoU: r.IoU, ObjectScore: r.ObjectScore, Present: r.Present,
			Candidate: r.Candidate, KalmanScore: r.KalmanScore, Conditioning: r.Conditioning,
		})
	}
	return out
}

// tracksRecord is a frame's tracks.jsonl line: no masks, boxes as corners.
func tracksRecord(rec frameRecord) frameRecord {
	out := frameRecord{Frame: rec.Frame, PTS: rec.PTS}
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

// Add turns one frame's logits into the label PNG and the records.
// Where objects overlap the PNG keeps the higher object id; masks.json
// keeps every object's own full mask.
func (o *trackOutput) Add(res *tracker.FrameResult) error {
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
	rec := frameRecord{Frame: res.Frame}
	if o.pts != nil {
		if pts, ok := o.pts(res.Frame); ok {
			sec := pts.Seconds()
			rec.PTS = &sec
		}
	}
	for _, r := range objs {
		if r.Object < 1 || r.Object > 255 {
			return fmt.Errorf("output: object id %d does not fit a DAVIS PNG (1..255)", r.Object)
		}
		o.objects[r.Object] = true
		if len(r.Logits) != o.maskSize*o.maskSize {
			return fmt.Errorf("output: frame %d object %d: %d logits, want %dx%d", res.Frame, r.Object, len(r.Logits), o.maskSize, o.maskSize)
		}
		sam.MaskToSource(r.Logits, o.maskSize, o.w, o.h, o.bin)
		area := 0
		for i, v := range o.bin {
			if v != 0 {
				o.labels[i] = byte(r.Object)
				area++
			}
		}
		rle, err := mask.EncodeRLE(o.bin, o.w, o.h)
		if err != nil {
			return fmt.Errorf("output: frame %d object %d: %w", res.Frame, r.Object, err)
		}
		cand, kf := r.Candidate, r.KalmanScore
		or := objectRecord{
			ID: r.Object, Segmentation: &rle, Area: area,
			IoU: r.IoU, ObjectScore: r.ObjectScore, Present: r.Present(),
			Candidate: &cand, KalmanScore: &kf, Conditioning: r.Conditioning,
		}
		if area > 0 {
			b := rle.BBox()
			or.BBox = &[4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()}
		}
		rec.Objects = append(rec.Objects, or)
	}
	o.records[res.Frame] = rec
	if err := o.writePNG(res.Frame, o.labels); err != nil {
		return err
	}
	// masks.jsonl last: its record says the frame is finished.
	if err := appendLine(o.tracks, tracksRecord(rec)); err != nil {
		return err
	}
	return appendLine(o.log, rec)
}

func (o *trackOutput) writePNG(frame int, labels []byte) error {
	path := filepath.Join(o.dir, masksDir, maskName(frame))
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

// Finish fills frames without a result with empty masks (so DAVIS
// evaluation sees every frame) and writes masks.json and tracks.jsonl.
func (o *trackOutput) Finish() error { return o.finish(true) }

// Tracked is how many frames have results.
func (o *trackOutput) Tracked() int { return len(o.records) }

// FinishPartial writes masks.json and tracks.jsonl for the frames tracked
// so far, after a failure or an interrupt, without inventing empty masks
// for frames never reached.
func (o *trackOutput) FinishPartial() error { return o.finish(false) }

func (o *trackOutput) finish(complete bool) error {
	if err := o.Close(); err != nil {
		return err
	}
	clear(o.labels)
	for i := range o.frames {
		if _, ok := o.records[i]; !ok && complete {
			if err := o.writePNG(i, o.labels); err != nil {
				return err
			}
		}
	}
	idx := make([]int, 0, len(o.records))
	for i := range o.records {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	doc := masksDoc{Format: masksFormat, Video: o.video, Width: o.w, Height: o.h, FPS: o.fps, Frames: o.frames}
	if !complete {
		doc.Frames = len(o.records) // what was tracked, not what was asked for
	}
	for id := range o.objects {
		doc.Objects = append(doc.Objects, id)
	}
	slices.Sort(doc.Objects)
	for _, i := range idx {
		rec := masksRecord(o.records[i])
		for k := range rec.Objects { // masks.json keeps the COCO fields
			r := &rec.Objects[k]
			r.Candidate, r.KalmanScore, r.Conditioning = nil, nil, false
		}
		doc.Results = append(doc.Results, rec)
	}
	if err := writeFileAtomic(filepath.Join(o.dir, masksJSON), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(doc)
	}); err != nil {
		return err
	}
	err := writeFileAtomic(filepath.Join(o.dir, tracksFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, i := range idx {
			if err := enc.Encode(tracksRecord(o.records[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !complete {
		return err // an interrupted run keeps masks.jsonl for --resume
	}
	if err := os.Remove(filepath.Join(o.dir, masksLog)); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// writeFileAtomic writes path beside it and renames it into place, so a
// reader (or a kill) never sees half a file.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
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

// overlayColors are vivid per-object colors (the DAVIS palette is too dark
// to read over video); object id i uses overlayColors[(i-1) % len].
var overlayColors = [][3]uint8{
	{255, 56, 56}, {56, 200, 255}, {80, 240, 80}, {255, 200, 40}, {200, 80, 255},
	{255, 120, 200}, {40, 255, 200}, {255, 140, 40}, {140, 160, 255}, {200, 255, 80},
}

// writeOverlay decodes the video again from the start and blends the
// label PNGs over it into an H.264 MP4. A second decode is cheap next to
// inference and means no frames are held in memory across passes. Each
// frame keeps its source timestamp (a variable-rate video stays so); an
// odd size is coded a column/row larger (see encode.Options).
func writeOverlay(ctx context.Context, dir, input string, frames int, prog *progress) error {
	dec, err := decode.Open(ctx, input, decode.Options{})
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer dec.Close()
	info := dec.Info()
	fps := info.FPS
	if fps <= 0 {
		fps = 25
	}
	path := filepath.Join(dir, overlayMP4)
	w, err := encode.Create(path, encode.Options{Codec: "h264", Width: info.Width, Height: info.Height, FPS: fps, Timescale: 90000})
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
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
			return fmt.Errorf("overlay: frame %d: %w", i, err)
		}
		labels, err := readLabelPNG(filepath.Join(dir, masksDir, maskName(f.Index)), info.Width, info.Height)
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		blend(out, f.RGB, labels, info.Width, info.Height)
		f.Release()
		if err := w.WriteFrameAt(out, f.PTS); err != nil {
			return fmt.Errorf("overlay: frame %d: %w", i, err)
		}
		prog.Add(1)
	}
	closed = true
	if err := w.Close(); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

func readLabelPNG(path string, w, h int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	labels, lw, lh, err := mask.DecodePNG(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if lw != w || lh != h {
		return nil, fmt.Errorf("%s is %dx%d, the video %dx%d", path, lw, lh, w, h)
	}
	return labels, nil
}

// blend draws each labeled pixel half-way to its object's color, and the
// outline of each object in full color.
func blend(dst, rgb, labels []byte, w, h int) {
	copy(dst, rgb)
	for y := range h {
		for x := range w {
			l := labels[y*w+x]
			if l == 0 {
				continue
			}
			c := overlayColors[(int(l)-1)%len(overlayColors)]
			edge := x == 0 || y == 0 || x == w-1 || y == h-1 ||
				labels[y*w+x-1] != l || labels[y*w+x+1] != l || labels[(y-1)*w+x] != l || labels[(y+1)*w+x] != l
			p := dst[(y*w+x)*3 : (y*w+x)*3+3]
			for k := range 3 {
				if edge {
					p[k] = c[k]
				} else {
					p[k] = uint8((uint16(p[k]) + uint16(c[k])) / 2)
				}
			}
		}
	}
}
