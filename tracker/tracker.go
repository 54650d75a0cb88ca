// Package tracker runs SAM 2 video tracking over a stream of frames: per
// object memory banks, prompts and corrections on any frame, objects added
// mid-stream, forward and backward propagation, and SAMURAI's motion-aware
// candidate choice and memory gating. Image features are computed once per
// frame and shared by every object; the memory attention, mask decoder and
// memory encoder run once per frame for all objects tracked on it.
package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/kalman"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/memory"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/video"
)

// Model is what the tracker needs from the SAM 2 graphs (*sam.Model).
type Model interface {
	Manifest() *sam.Manifest
	EncodeImage(ctx context.Context, image []float32) (*sam.Features, error)
	// The object graphs take every object of a frame at once (see the
	// sam.Model methods of the same names).
	AttendMemoryBatch(ctx context.Context, f *sam.Features, objs []sam.ObjectMemory) ([]float32, error)
	DecodeMasksBatch(ctx context.Context, imageEmbed []float32, f *sam.Features, prompts []sam.Prompt) ([]sam.Candidates, error)
	EncodeMemoryBatch(ctx context.Context, pixFeat, masksHighRes []float32, binarize []bool, objectScores []float32) (feat, pos []float32, err error)
	Constant(name string) ([]float32, error)
}

// FrameSource gives random access to a video's frames (files); live sources
// have none and prompts must then target a recent frame.
type FrameSource interface {
	Frame(ctx context.Context, index int) (*video.Frame, error)
}

// Config sets tracking behaviour.
type Config struct {
	Mode Mode
	// MaxCondFrames caps the prompted frames each object attends to
	// (0 = all, as the reference; streams should cap it).
	MaxCondFrames int
	// NonOverlap keeps, at each pixel, only the highest-scoring object's
	// positive logit in the outputs.
	NonOverlap bool
	// KeepAll keeps every frame's outputs (files: corrections anywhere and
	// backward passes). When false, memory holds only what attention can
	// still read, so endless streams stay bounded.
	KeepAll bool
	// NumFrames is the video length when known (0 for live streams).
	NumFrames int
	// FeatureCache is how many frames of image features stay cached (2).
	FeatureCache int
	// Source, when set, lets prompts and propagation reach any frame.
	Source FrameSource
	// CorrectionsAsCond makes a prompt on a frame the object was already
	// tracked on (a correction) a conditioning frame: every later frame
	// attends to it and propagation re-emits it as it was
	// (add_all_frames_to_correct_as_cond=True). When false, the official
	// predictor's default, the corrected output is an ordinary tracked
	// frame: it feeds the next frames' recent memory, and the next
	// propagation over it recomputes it from memory, prompts dropped.
	// The presets set it (docs/cli.md "Corrections").
	CorrectionsAsCond bool
	// FillHoleArea fills every background region of at most this many
	// low-resolution mask pixels (fill_hole_area; 0 = off), as the
	// official predictor does on CUDA. The presets set DefaultFillHoleArea.
	FillHoleArea int
	Logger       *slog.Logger
}

// Errors callers can test for.
var (
	ErrUnknownObject  = errors.New("unknown object")
	ErrFrameRange     = errors.New("frame index out of range")
	ErrPromptOutside  = errors.New("prompt outside the frame")
	ErrEmptyPrompt    = errors.New("empty prompt")
	ErrFrameNotCached = errors.New("frame no longer available")
)

// Stats accumulates time per stage since the tracker was created.
type Stats struct {
	Frames          int
	ObjectSteps     int
	Encoder         time.Duration
	MemoryAttention time.Duration
	Decoder         time.Duration
	MemoryEncoder   time.Duration
	Total           time.Duration // everything, Go's own work included
}

// GoWork is the time spent outside the four graphs.
func (s Stats) GoWork() time.Duration {
	return s.Total - s.Encoder - s.MemoryAttention - s.Decoder - s.MemoryEncoder
}

// Tracker tracks objects through a video. It is not safe for concurrent use.
type Tracker struct {
	m   Model
	man *sam.Manifest
	cfg Config
	log *slog.Logger

	objects []*object
	feats   featureCache
	width   int
	height  int

	noMemEmbed []float32
	noObjPtr   []float32
	maskmemPos []float32 // the same for every frame and object

	input   []float32 // normalized model input, reused
	highRes []float32 // 1024x1024 upsamples of a frame's objects, reused
	holes   holeFiller
	stats   Stats
}

type object struct {
	id   int
	bank *memory.Bank
	// temp holds prompted outputs whose memory is not encoded yet (the
	// reference's temp_output_dict): encoded when tracking resumes.
	temp    map[int]*pending
	tracked map[int]bool // frame -> tracked in reverse
	// points holds each prompted frame's points in model space, for
	// prompts that add to them.
	points map[int]sam.Prompt
	// SAMURAI state.
	kf     *kalman.Filter
	stable int
	// last is the decoder's answer to the object's last point or box
	// prompt, for a Candidate prompt to pick another of its masks.
	last *lastPrompt
}

// lastPrompt is what a Candidate prompt needs of the click it answers.
type lastPrompt struct {
	frame   int
	cands   sam.Candidates
	cond    bool // the click's output was to become a conditioning frame
	reverse bool
}

type pending struct {
	entry *memory.Entry
	// cond: committed as a conditioning frame (a first prompt there, or
	// any prompt with Config.CorrectionsAsCond).
	cond bool
}

// New returns a tracker over model.
func New(m Model, cfg Config) (*Tracker, error) {
	man := m.Manifest()
	if man == nil {
		return nil, errors.New("tracker: model has no manifest")
	}
	if cfg.FeatureCache <= 0 {
		cfg.FeatureCache = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tracker{m: m, man: man, cfg: cfg, log: cfg.Logger}
	var err error
	if t.noMemEmbed, err = m.Constant("no_mem_embed"); err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	if t.noObjPtr, err = m.Constant("no_obj_ptr"); err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	t.feats.size = cfg.FeatureCache
	return t, nil
}

// Stats returns the time spent per stage so far.
func (t *Tracker) Stats() Stats { return t.stats }

// Objects lists tracked object ids in the order they were added.
func (t *Tracker) Objects() []int {
	ids := make([]int, len(t.objects))
	for i, o := range t.objects {
		ids[i] = o.id
	}
	return ids
}

// MemoryFrames reports, per object, how many frames hold memory features:
// what bounded memory is about.
func (t *Tracker) MemoryFrames() map[int]int {
	out := map[int]int{}
	for _, o := range t.objects {
		out[o.id] = o.bank.FeatureFrames()
	}
	return out
}

func (t *Tracker) object(id int) *object {
	for _, o := range t.objects {
		if o.id == id {
			return o
		}
	}
	return nil
}

func (t *Tracker) newObject(id int) *object {
	man := t.man
	o := &object{
		id: id,
		bank: memory.NewBank(memory.Config{
			NumMaskmem:           man.NumMaskmem,
			MaxPointers:          man.MaxObjPtrsInEncoder,
			MaxCond:              t.cfg.MaxCondFrames,
			SignedPointerOffsets: man.UseSignedTposEncToObjPtrs,
			PastPointersOnly:     man.OnlyObjPtrsInThePastForEval,
			Samurai:              t.cfg.Mode == SAMURAI,
			IoUThreshold:         float32(man.Samurai.MemoryBankIoUThreshold),
			ObjectThreshold:      float32(man.Samurai.MemoryBankObjScoreThreshold),
			KalmanThreshold:      float32(man.Samurai.MemoryBankKFScoreThreshold),
			SamuraiScan:          man.MaxObjPtrsInEncoder - 1,
		}),
		temp:    map[int]*pending{},
		tracked: map[int]bool{},
		points:  map[int]sam.Prompt{},
	}
	t.objects = append(t.objects, o)
	return o
}

// Close releases the image features the tracker keeps (what ONNX Runtime
// holds of them for a resident model, sam.Options.Resident). A closed
// tracker still works: it encodes frames again as it needs them.
func (t *Tracker) Close() error {
	t.feats.close()
	return nil
}

// RemoveObject forgets an object and all its memory.
func (t *Tracker) RemoveObject(id int) error {
	for i, o := range t.objects {
		if o.id == id {
			t.objects = slices.Delete(t.objects, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("tracker: remove object %d: %w", id, ErrUnknownObject)
}

// Track processes the next frame of a stream (forward in time): prompts
// given since the last call are committed to memory, then every object is
// tracked on f. Frames must come in increasing index order.
func (t *Tracker) Track(ctx context.Context, f *video.Frame) (*FrameResult, error) {
	defer t.feats.sweep()
	start := time.Now()
	defer func() { t.stats.Total += time.Since(start) }()
	if err := t.setSize(f); err != nil {
		return nil, err
	}
	feats, err := t.encodeFrame(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := t.commitPrompts(ctx); err != nil {
		return nil, err
	}
	res, err := t.trackFrame(ctx, f.Index, feats, false)
	if err != nil {
		return nil, err
	}
	if !t.cfg.KeepAll {
		for _, o := range t.objects {
			o.bank.Prune(f.Index, false)
		}
		t.feats.keepOnly(f.Index)
	}
	return res, nil
}

// PropagateOptions picks the frames a propagation pass covers.
type PropagateOptions struct {
	// Start is the first frame; -1 means the earliest prompted frame.
	Start   int
	Reverse bool
	// MaxFrames bounds the pass (0 = to the end or the beginning).
	MaxFrames int
}

// Propagate tracks every object across the video held by cfg.Source, as
// SAM2VideoPredictor.propagate_in_video does, calling fn for each frame.
func (t *Tracker) Propagate(ctx context.Context, opts PropagateOptions, fn func(*FrameResult) error) error {
	defer t.feats.sweep()
	if t.cfg.Source == nil {
		return errors.New("tracker: propagate needs a frame source (a file, not a live stream)")
	}
	if t.cfg.NumFrames <= 0 {
		return errors.New("tracker: propagate needs the video length")
	}
	if len(t.objects) == 0 {
		return errors.New("tracker: no objects: add a prompt first")
	}
	start := time.Now()
	var inCallback time.Duration
	defer func() { t.stats.Total += time.Since(start) - inCallback }()
	if err := t.commitPrompts(ctx); err != nil {
		return err
	}
	startFrame := opts.Start
	if startFrame < 0 {
		startFrame = -1
		for _, o := range t.objects {
			for _, c := range o.bank.CondFrames() {
				if startFrame < 0 || c < startFrame {
					startFrame = c
				}
			}
		}
	}
	if startFrame < 0 || startFrame >= t.cfg.NumFrames {
		return fmt.Errorf("tracker: propagate from frame %d of %d: %w", startFrame, t.cfg.NumFrames, ErrFrameRange)
	}
	n := opts.MaxFrames
	if n <= 0 {
		n = t.cfg.NumFrames
	}
	var order []int
	if opts.Reverse {
		end := max(startFrame-n, 0)
		if startFrame > 0 {
			for i := startFrame; i >= end; i-- {
				order = append(order, i)
			}
		}
	} else {
		end := min(startFrame+n, t.cfg.NumFrames-1)
		for i := startFrame; i <= end; i++ {
			order = append(order, i)
		}
	}
	for _, idx := range order {
		// What the last frame dropped is no longer used: a pass over a
		// long video must not hold every frame's features.
		t.feats.sweep()
		if err := ctx.Err(); err != nil {
			return err
		}
		feats, err := t.features(ctx, idx)
		if err != nil {
			return err
		}
		res, err := t.trackFrame(ctx, idx, feats, opts.Reverse)
		if err != nil {
			return err
		}
		if !t.cfg.KeepAll {
			for _, o := range t.objects {
				o.bank.Prune(idx, opts.Reverse)
			}
		}
		cb := time.Now()
		err = fn(res)
		inCallback += time.Since(cb)
		if err != nil {
			return err
		}
	}
	return nil
}

// trackFrame runs every object on one frame whose features are known.
func (t *Tracker) trackFrame(ctx context.Context, idx int, feats *sam.Features, reverse bool) (*FrameResult, error) {
	if t.cfg.NumFrames > 0 && idx >= t.cfg.NumFrames {
		return nil, fmt.Errorf("tracker: frame %d of %d: %w", idx, t.cfg.NumFrames, ErrFrameRange)
	}
	t.stats.Frames++
	var objs []*object
	for _, o := range t.objects {
		if o.bank.HasCond() && !o.bank.IsCond(idx) {
			objs = append(objs, o)
		}
	}
	if len(objs) > 0 {
		entries, _, err := t.infer(ctx, objs, idx, feats, nil, false, reverse)
		if err != nil {
			return nil, fmt.Errorf("tracker: frame %d: %w", idx, err)
		}
		if err := t.encodeMemory(ctx, entries, feats, false); err != nil {
			return nil, fmt.Errorf("tracker: frame %d: %w", idx, err)
		}
		for i, o := range objs {
			e := entries[i]
			// As the reference: the memory encoder saw the mask before
			// hole filling, the output is filled.
			t.fillHoles(e)
			e.Reverse = reverse
			o.bank.Put(e)
			o.tracked[idx] = reverse
		}
	}
	for _, o := range t.objects {
		if o.bank.IsCond(idx) {
			o.tracked[idx] = reverse
		}
	}
	return t.result(idx)
}

// Prompt adds points, a box or a mask for one object on one frame, as
// add_new_points_or_box / add_new_mask do: a new object id starts an
// object; on a frame already tracked the prompt corrects it. The memory of
// the prompted frame is encoded when tracking resumes. It returns every
// object's output on that frame.
func (t *Tracker) Prompt(ctx context.Context, p prompt.Prompt) (*FrameResult, error) {
	defer t.feats.sweep()
	start := time.Now()
	defer func() { t.stats.Total += time.Since(start) }()
	if p.Frame < 0 || (t.cfg.NumFrames > 0 && p.Frame >= t.cfg.NumFrames) {
		return nil, fmt.Errorf("tracker: prompt on frame %d (video has %d frames): %w", p.Frame, t.cfg.NumFrames, ErrFrameRange)
	}
	// Check against the known frame size first: a bad prompt costs no
	// image encoding.
	if t.width != 0 {
		if err := t.checkPrompt(p); err != nil {
			return nil, err
		}
	}
	feats, err := t.features(ctx, p.Frame)
	if err != nil {
		return nil, err
	}
	if err := t.checkPrompt(p); err != nil {
		return nil, err
	}
	o := t.object(p.Object)
	isNew := o == nil
	if isNew {
		o = t.newObject(p.Object)
	}
	cands, err := t.runPrompt(ctx, o, p, feats)
	if err != nil {
		if isNew {
			t.objects = t.objects[:len(t.objects)-1]
		}
		return nil, err
	}
	res, err := t.result(p.Frame)
	if err != nil || cands == nil {
		return res, err
	}
	for i := range res.Objects {
		if r := &res.Objects[i]; r.Object == p.Object {
			if r.Candidates, err = t.candidates(cands); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// candidates turns every decoder output of a prompt into a source-size
// mask, so that the user can pick another one than the tracker chose.
func (t *Tracker) candidates(c *sam.Candidates) ([]Candidate, error) {
	w, h := t.width, t.height
	out := make([]Candidate, len(c.Masks))
	bin := make([]byte, w*h)
	for k, logits := range c.Masks {
		clear(bin)
		sam.MaskToSource(logits, t.man.MaskSize, w, h, bin)
		rle, err := mask.EncodeRLE(bin, w, h)
		if err != nil {
			return nil, fmt.Errorf("tracker: candidate %d: %w", k, err)
		}
		out[k] = Candidate{Token: k, IoU: c.IoU[k], RLE: rle}
	}
	return out, nil
}

func (t *Tracker) checkPrompt(p prompt.Prompt) error {
	if t.width == 0 {
		return fmt.Errorf("tracker: prompt before any frame: %w", ErrFrameNotCached)
	}
	if c := p.Candidate; c != nil {
		if len(p.Points) > 0 || p.Box != nil || p.Mask != nil {
			return fmt.Errorf("tracker: object %d frame %d: a candidate stands alone, without points, box or mask", p.Object, p.Frame)
		}
		if *c < 0 || *c > 3 {
			return fmt.Errorf("tracker: object %d frame %d: candidate %d: want a decoder token 0..3", p.Object, p.Frame, *c)
		}
		return nil
	}
	if p.Mask != nil {
		if len(p.Points) > 0 || p.Box != nil {
			return fmt.Errorf("tracker: object %d frame %d: a mask prompt cannot be combined with points or a box", p.Object, p.Frame)
		}
		if p.Mask.Width != t.width || p.Mask.Height != t.height {
			return fmt.Errorf("tracker: object %d frame %d: mask is %dx%d, frame is %dx%d: %w", p.Object, p.Frame, p.Mask.Width, p.Mask.Height, t.width, t.height, ErrPromptOutside)
		}
		if err := p.Mask.Validate(); err != nil {
			return fmt.Errorf("tracker: object %d frame %d: %w", p.Object, p.Frame, err)
		}
		if p.Mask.Area() == 0 {
			return fmt.Errorf("tracker: object %d frame %d: mask prompt has no foreground pixel: %w", p.Object, p.Frame, ErrEmptyPrompt)
		}
		return nil
	}
	if len(p.Points) == 0 && p.Box == nil {
		return fmt.Errorf("tracker: object %d frame %d: no points, box or mask: %w", p.Object, p.Frame, ErrEmptyPrompt)
	}
	w, h := float32(t.width), float32(t.height)
	for _, pt := range p.Points {
		if pt.X < 0 || pt.Y < 0 || pt.X >= w || pt.Y >= h || pt.X != pt.X || pt.Y != pt.Y {
			return fmt.Errorf("tracker: object %d frame %d: point (%g,%g) outside the %dx%d frame: %w", p.Object, p.Frame, pt.X, pt.Y, t.width, t.height, ErrPromptOutside)
		}
	}
	if b := p.Box; b != nil {
		if b.X0 < 0 || b.Y0 < 0 || b.X1 > w || b.Y1 > h || b.X1 <= b.X0 || b.Y1 <= b.Y0 {
			return fmt.Errorf("tracker: object %d frame %d: box (%g,%g)-(%g,%g) is empty or outside the %dx%d frame: %w", p.Object, p.Frame, b.X0, b.Y0, b.X1, b.Y1, t.width, t.height, ErrPromptOutside)
		}
	}
	return nil
}

// runPrompt applies p to o; for points and boxes it returns the decoder's
// candidates (all four tokens), nil for a mask.
func (t *Tracker) runPrompt(ctx context.Context, o *object, p prompt.Prompt, feats *sam.Features) (*sam.Candidates, error) {
	if p.Candidate != nil {
		return t.pickCandidate(o, p.Frame, *p.Candidate)
	}
	reverse, tracked := o.tracked[p.Frame]
	isInit := !tracked
	cond := isInit || t.cfg.CorrectionsAsCond
	if p.Mask != nil {
		e, err := t.maskAsOutput(ctx, p, feats)
		if err != nil {
			return nil, fmt.Errorf("tracker: object %d frame %d: %w", o.id, p.Frame, err)
		}
		t.fillHoles(e)
		e.Reverse = reverse
		o.temp[p.Frame] = &pending{entry: e, cond: cond}
		delete(o.points, p.Frame)
		o.last = nil
		return nil, nil
	}
	sp := t.modelPrompt(p)
	if old, ok := o.points[p.Frame]; ok && p.Append {
		if p.Box != nil {
			return nil, fmt.Errorf("tracker: object %d frame %d: a box must come before any point: send it without Append", o.id, p.Frame)
		}
		sp.Coords = append(append([][2]float32(nil), old.Coords...), sp.Coords...)
		sp.Labels = append(append([]float32(nil), old.Labels...), sp.Labels...)
	}
	// A correction feeds the previous logits on this frame as a mask prompt.
	var prev []float32
	if pe, ok := o.temp[p.Frame]; ok {
		prev = pe.entry.Logits
	} else if e, ok := o.bank.Get(p.Frame); ok {
		prev = e.Logits
	}
	if prev != nil {
		sp.MaskInput = make([]float32, len(prev))
		for i, v := range prev {
			sp.MaskInput[i] = min(max(v, -32), 32)
		}
	}
	es, cands, err := t.infer(ctx, []*object{o}, p.Frame, feats, []sam.Prompt{sp}, isInit, reverse)
	if err != nil {
		return nil, fmt.Errorf("tracker: object %d frame %d: %w", o.id, p.Frame, err)
	}
	e := es[0]
	// Filled before its memory is encoded (at commit), as the reference.
	t.fillHoles(e)
	e.Reverse = reverse
	o.temp[p.Frame] = &pending{entry: e, cond: cond}
	o.points[p.Frame] = sam.Prompt{Coords: sp.Coords, Labels: sp.Labels}
	o.last = &lastPrompt{frame: p.Frame, cands: cands[0], cond: cond, reverse: reverse}
	return &cands[0], nil
}

// pickCandidate makes candidate token of o's last click or box on frame
// its output there, in place of the tracker's choice: what the frame's
// memory is encoded from when tracking resumes, a conditioning frame if
// the click's output was to be one.
func (t *Tracker) pickCandidate(o *object, frame, token int) (*sam.Candidates, error) {
	last := o.last
	if last == nil || last.frame != frame {
		return nil, fmt.Errorf("tracker: object %d frame %d: candidate %d: no point or box prompt there whose candidates to pick from (only the object's last one's are kept): %w", o.id, frame, token, ErrEmptyPrompt)
	}
	e := t.entryOf(&last.cands, token, frame)
	if t.cfg.Mode == SAMURAI && len(o.tracked) == 0 && o.kf != nil {
		// The filter started from the click's first choice: start it
		// from the pick.
		o.kf = kalman.New(t.highResBox(e.Logits))
	}
	t.fillHoles(e)
	e.Reverse = last.reverse
	o.temp[frame] = &pending{entry: e, cond: last.cond}
	return &last.cands, nil
}

// modelPrompt maps source-pixel points and box into the model's frame.
func (t *Tracker) modelPrompt(p prompt.Prompt) sam.Prompt {
	size := float32(t.man.ImageSize)
	var sp sam.Prompt
	add := func(x, y, label float32) {
		// As the reference: (x / W) * image_size in float32.
		sp.Coords = append(sp.Coords, [2]float32{x / float32(t.width) * size, y / float32(t.height) * size})
		sp.Labels = append(sp.Labels, label)
	}
	if b := p.Box; b != nil {
		add(b.X0, b.Y0, 2)
		add(b.X1, b.Y1, 3)
	}
	for _, pt := range p.Points {
		l := float32(0)
		if pt.Positive {
			l = 1
		}
		add(pt.X, pt.Y, l)
	}
	return sp
}

// commitPrompts encodes memory for prompted frames and makes them
// conditioning frames, or tracked frames for corrections without
// Config.CorrectionsAsCond (propagate_in_video_preflight): one memory
// encoder run per prompted frame for all objects prompted there.
func (t *Tracker) commitPrompts(ctx context.Context) error {
	var frames []int
	for _, o := range t.objects {
		for f := range o.temp {
			if !slices.Contains(frames, f) {
				frames = append(frames, f)
			}
		}
	}
	slices.Sort(frames)
	for _, f := range frames {
		var objs []*object
		var entries []*memory.Entry
		for _, o := range t.objects {
			pe, ok := o.temp[f]
			if !ok {
				continue
			}
			if !pe.cond && o.bank.IsCond(f) {
				// A correction of a conditioning frame that does not become
				// one: the reference drops it here (a frame's conditioning
				// output wins over its other output).
				delete(o.temp, f)
				continue
			}
			objs = append(objs, o)
			entries = append(entries, pe.entry)
		}
		if len(objs) == 0 {
			continue
		}
		feats, err := t.features(ctx, f)
		if err != nil {
			return fmt.Errorf("tracker: commit prompts on frame %d: %w", f, err)
		}
		if err := t.encodeMemory(ctx, entries, feats, true); err != nil {
			return fmt.Errorf("tracker: commit prompts on frame %d: %w", f, err)
		}
		for i, o := range objs {
			if o.temp[f].cond {
				o.bank.PutCond(entries[i])
			} else {
				o.bank.Put(entries[i])
			}
			delete(o.temp, f)
		}
	}
	return nil
}

// result gathers every object's output on frame idx.
func (t *Tracker) result(idx int) (*FrameResult, error) {
	res := &FrameResult{Frame: idx, Width: t.width, Height: t.height}
	for _, o := range t.objects {
		var e *memory.Entry
		prompted := false
		if pe, ok := o.temp[idx]; ok {
			e, prompted = pe.entry, true
		} else if be, ok := o.bank.Get(idx); ok {
			e = be
		}
		if e == nil {
			continue
		}
		r := ObjectResult{
			Object:       o.id,
			logits:       e.Logits,
			IoU:          e.IoU,
			ObjectScore:  e.ObjectScore,
			Candidate:    e.Candidate,
			Conditioning: e.Conditioning || prompted,
			Visible:      e.ObjectScore > t.presenceThreshold(),
		}
		if e.HasKalman {
			r.KalmanScore = e.KalmanScore
		}
		res.Objects = append(res.Objects, r)
	}
	if t.cfg.NonOverlap && len(res.Objects) > 1 {
		applyNonOverlap(res.Objects)
	}
	for i := range res.Objects {
		if err := t.sourceMask(&res.Objects[i]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sourceMask fills r's source-size mask, its RLE and box from its logits.
func (t *Tracker) sourceMask(r *ObjectResult) error {
	w, h := t.width, t.height
	r.Mask = make([]byte, w*h)
	sam.MaskToSource(r.logits, t.man.MaskSize, w, h, r.Mask)
	rle, err := mask.EncodeRLE(r.Mask, w, h)
	if err != nil {
		return fmt.Errorf("tracker: object %d: %w", r.Object, err)
	}
	r.RLE = rle
	if b := rle.BBox(); !b.Empty() {
		r.Box = mask.BoxOf(b)
	}
	return nil
}

func (t *Tracker) setSize(f *video.Frame) error {
	if f == nil || f.Width <= 0 || f.Height <= 0 {
		return errors.New("tracker: empty frame")
	}
	if err := f.LoadModel(); err != nil {
		return fmt.Errorf("tracker: frame %d: model input: %w", f.Index, err)
	}
	if len(f.Model) != t.man.ImageSize*t.man.ImageSize*3 {
		return fmt.Errorf("tracker: frame %d has no %dx%d model input (open the decoder with ModelSize %d)", f.Index, t.man.ImageSize, t.man.ImageSize, t.man.ImageSize)
	}
	if t.width != 0 && (t.width != f.Width || t.height != f.Height) {
		return fmt.Errorf("tracker: frame %d is %dx%d, the stream was %dx%d", f.Index, f.Width, f.Height, t.width, t.height)
	}
	t.width, t.height = f.Width, f.Height
	return nil
}

// encodeFrame runs the image encoder on f and caches its features.
func (t *Tracker) encodeFrame(ctx context.Context, f *video.Frame) (*sam.Features, error) {
	if feats := t.feats.get(f.Index); feats != nil {
		return feats, nil
	}
	n := t.man.ImageSize * t.man.ImageSize * 3
	if len(t.input) != n {
		t.input = make([]float32, n)
	}
	video.Normalize(f.Model, t.input, t.man.Mean(), t.man.Std())
	begin := time.Now()
	feats, err := t.m.EncodeImage(ctx, t.input)
	t.stats.Encoder += time.Since(begin)
	if err != nil {
		return nil, fmt.Errorf("tracker: frame %d: %w", f.Index, err)
	}
	t.feats.put(f.Index, feats)
	return feats, nil
}

// features returns frame idx's features, decoding it from the source when
// it is not cached.
func (t *Tracker) features(ctx context.Context, idx int) (*sam.Features, error) {
	if feats := t.feats.get(idx); feats != nil {
		return feats, nil
	}
	if t.cfg.Source == nil {
		return nil, fmt.Errorf("tracker: frame %d: %w (a live stream keeps only its latest frames)", idx, ErrFrameNotCached)
	}
	f, err := t.cfg.Source.Frame(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("tracker: frame %d: %w", idx, err)
	}
	if err := t.setSize(f); err != nil {
		return nil, err
	}
	return t.encodeFrame(ctx, f)
}

// infer is _run_single_frame_inference without the memory encoder, for
// objects of one frame: one memory attention and one mask decoder call for
// all of them. prompts is nil when tracking (one padding point each), else
// one per object; isInit starts objects without memory (no_mem_embed).
func (t *Tracker) infer(ctx context.Context, objs []*object, idx int, feats *sam.Features, prompts []sam.Prompt, isInit, reverse bool) ([]*memory.Entry, []sam.Candidates, error) {
	t.stats.ObjectSteps += len(objs)
	n, per := len(objs), len(feats.VisionFeat)
	var embeds []float32
	if isInit {
		embeds = make([]float32, n*per)
		for i := range objs {
			addChannelBias(feats.VisionFeat, t.noMemEmbed, embeds[i*per:(i+1)*per])
		}
	} else {
		// The graph divides offsets by max_obj_ptrs-1; the reference divides
		// by min(num_frames, max_obj_ptrs)-1, so rescale for short videos.
		scale := float32(1)
		if n, mp := t.cfg.NumFrames, t.man.MaxObjPtrsInEncoder; n > 1 && n < mp {
			scale = float32(mp-1) / float32(n-1)
		}
		mems := make([]sam.ObjectMemory, n)
		for i, o := range objs {
			sel, err := o.bank.Select(idx, reverse, t.cfg.NumFrames)
			if err != nil {
				return nil, nil, fmt.Errorf("object %d: %w", o.id, err)
			}
			frames := make([]sam.MemoryFrame, len(sel.Frames))
			for j, r := range sel.Frames {
				// bf16 memory is widened by the model straight into its input.
				frames[j] = sam.MemoryFrame{FeatBF16: r.Entry.Feat, Pos: t.maskmemPos, Slot: r.Slot}
			}
			ptrs := make([]sam.Pointer, len(sel.Pointers))
			for j, r := range sel.Pointers {
				ptrs[j] = sam.Pointer{Vec: r.Entry.Ptr, Offset: r.Offset * scale}
			}
			mems[i] = sam.ObjectMemory{Frames: frames, Pointers: ptrs}
		}
		begin := time.Now()
		var err error
		embeds, err = t.m.AttendMemoryBatch(ctx, feats, mems)
		t.stats.MemoryAttention += time.Since(begin)
		if err != nil {
			return nil, nil, err
		}
	}
	sps := make([]sam.Prompt, n)
	multimask := make([]bool, n)
	man := t.man
	for i := range objs {
		numPts := 0
		if prompts != nil {
			sps[i] = prompts[i]
			numPts = len(sps[i].Coords)
		} else {
			// No prompt: one padding point, as SAM 2 does.
			sps[i] = sam.Prompt{Coords: [][2]float32{{0, 0}}, Labels: []float32{-1}}
		}
		multimask[i] = man.MultimaskOutputInSam && (isInit || man.MultimaskOutputForTracking) &&
			man.MultimaskMinPtNum <= numPts && numPts <= man.MultimaskMaxPtNum
	}
	begin := time.Now()
	cands, err := t.m.DecodeMasksBatch(ctx, embeds, feats, sps)
	t.stats.Decoder += time.Since(begin)
	if err != nil {
		return nil, nil, err
	}
	entries := make([]*memory.Entry, n)
	for i, o := range objs {
		entries[i] = t.choose(o, &cands[i], multimask[i], idx)
	}
	return entries, cands, nil
}

// encodeMemory runs the memory encoder on the chosen masks of entries of
// one frame, in one call.
func (t *Tracker) encodeMemory(ctx context.Context, entries []*memory.Entry, feats *sam.Features, fromPrompt bool) error {
	n, size := len(entries), t.man.ImageSize*t.man.ImageSize
	if cap(t.highRes) < n*size {
		t.highRes = make([]float32, n*size)
	}
	hr := t.highRes[:n*size]
	binarize := make([]bool, n)
	scores := make([]float32, n)
	for i, e := range entries {
		sam.UpsampleBilinear(e.Logits, t.man.MaskSize, t.man.MaskSize, hr[i*size:(i+1)*size], t.man.ImageSize, t.man.ImageSize)
		binarize[i] = fromPrompt && t.man.BinarizeMaskFromPtsForMemEnc
		scores[i] = e.ObjectScore
	}
	begin := time.Now()
	feat, pos, err := t.m.EncodeMemoryBatch(ctx, feats.VisionFeat, hr, binarize, scores)
	t.stats.MemoryEncoder += time.Since(begin)
	if err != nil {
		return err
	}
	per := len(feat) / n
	if t.maskmemPos == nil {
		// The same for every frame and object: one copy serves all.
		t.maskmemPos = append([]float32(nil), pos[:per]...)
	}
	for i, e := range entries {
		e.Feat = make([]uint16, per)
		memory.ToBF16(feat[i*per:(i+1)*per], e.Feat)
	}
	return nil
}

// presenceThreshold is the object logit above which an object counts as
// present: 0 for SAM 2, min_obj_score_logits (-1) for SAMURAI.
func (t *Tracker) presenceThreshold() float32 {
	if t.cfg.Mode != SAMURAI {
		return 0
	}
	if v := t.man.Samurai.MinObjScoreLogits; v != nil {
		return float32(*v)
	}
	return -1
}

// featureCache keeps the image features of the last few frames. Features
// it drops are closed by sweep, at the end of the call that dropped them:
// that call may still be using them (a resident model's features are
// unusable once closed; sam.Options.Resident).
type featureCache struct {
	size    int
	frames  []int
	feats   []*sam.Features
	dropped []*sam.Features
}

func (c *featureCache) get(idx int) *sam.Features {
	for i, f := range c.frames {
		if f == idx {
			return c.feats[i]
		}
	}
	return nil
}

func (c *featureCache) put(idx int, f *sam.Features) {
	if len(c.frames) >= c.size {
		c.dropped = append(c.dropped, c.feats[0])
		c.frames = c.frames[1:]
		c.feats = c.feats[1:]
	}
	c.frames = append(c.frames, idx)
	c.feats = append(c.feats, f)
}

// keepOnly drops cached frames older than idx-size+1 (streams).
func (c *featureCache) keepOnly(idx int) {
	for len(c.frames) > 0 && c.frames[0] <= idx-c.size {
		c.dropped = append(c.dropped, c.feats[0])
		c.frames = c.frames[1:]
		c.feats = c.feats[1:]
	}
}

// sweep closes the features dropped since the last sweep.
func (c *featureCache) sweep() {
	for _, f := range c.dropped {
		f.Close()
	}
	c.dropped = nil
}

// close closes every feature, cached or dropped, and empties the cache.
func (c *featureCache) close() {
	c.dropped = append(c.dropped, c.feats...)
	c.frames, c.feats = nil, nil
	c.sweep()
}

// addChannelBias writes x[c,h,w] + b[c] for planar features to out.
func addChannelBias(x, b, out []float32) {
	hw := len(x) / len(b)
	for c, v := range b {
		src := x[c*hw : (c+1)*hw]
		dst := out[c*hw : (c+1)*hw]
		for i, s := range src {
			dst[i] = s + v
		}
	}
}

// PresenceThreshold is the object score above which an object counts as
// present (ObjectResult.Present): 0 in SAM 2 mode, SAMURAI's occlusion
// threshold (the manifest's min_obj_score_logits, default -1) in SAMURAI.
func (t *Tracker) PresenceThreshold() float32 { return t.presenceThreshold() }

// Everything runs the automatic mask generator (package autoseg) on frame
// idx, from its image features as a prompt there would use them (cached
// or encoded once). The model must batch prompts (autoseg.Model).
func (t *Tracker) Everything(ctx context.Context, idx int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error) {
	defer t.feats.sweep()
	am, ok := t.m.(autoseg.Model)
	if !ok {
		return nil, autoseg.Stats{}, errors.New("tracker: this model cannot segment everything (no shared-embedding decoder)")
	}
	if idx < 0 || (t.cfg.NumFrames > 0 && idx >= t.cfg.NumFrames) {
		return nil, autoseg.Stats{}, fmt.Errorf("tracker: segment everything on frame %d (video has %d frames): %w", idx, t.cfg.NumFrames, ErrFrameRange)
	}
	start := time.Now()
	defer func() { t.stats.Total += time.Since(start) }()
	feats, err := t.features(ctx, idx)
	if err != nil {
		return nil, autoseg.Stats{}, err
	}
	return autoseg.Generate(ctx, am, feats, t.width, t.height, p)
}
