package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vidseg/vidseg/autoseg"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/stream"
)

// Segment everything: the automatic mask generator (package autoseg) on
// the frame shown, each mask it finds that no object covers already
// becoming an object (a mask prompt there), and, for live sessions,
// discovery: the same every so often, for objects that come in later.

// Segmenter is a tracker that runs the automatic mask generator on one of
// its frames (*tracker.Tracker). Trackers that wrap another pass it
// through with EverythingOf.
type Segmenter interface {
	Everything(ctx context.Context, frame int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error)
}

// errNoSegmenter: the session's tracker cannot segment everything.
var errNoSegmenter = &kindError{ErrConflict, errors.New("this session's tracker cannot segment everything")}

// EverythingOf runs t's generator; an error when t has none.
func EverythingOf(ctx context.Context, t any, frame int, p autoseg.Params) ([]autoseg.Mask, autoseg.Stats, error) {
	s, ok := t.(Segmenter)
	if !ok {
		return nil, autoseg.Stats{}, errNoSegmenter
	}
	return s.Everything(ctx, frame, p)
}

// Limits of a request from a client: the grid costs model time per
// point, and every object tracked costs it on every frame.
const (
	MaxEverythingPoints  = 64 // points per side
	MaxEverythingObjects = 64
	// DefaultEverythingObjects is the objects one run adds at most, as
	// vidseg track --everything's --max-objects.
	DefaultEverythingObjects = 32
	// DefaultEverythingOverlap: a mask with more than this fraction of
	// its area under objects already there is theirs, not a new object.
	DefaultEverythingOverlap = 0.5
)

// EverythingRequest is the body of POST /api/sessions/{id}/everything.
// Unset fields take SAM2AutomaticMaskGenerator's defaults.
type EverythingRequest struct {
	// Frame is the frame to segment (edit sessions: required, the frame
	// the page shows; live sessions use the model's latest frame).
	Frame                *int     `json:"frame,omitempty"`
	PointsPerSide        int      `json:"pointsPerSide,omitempty"`
	PredIoUThresh        *float64 `json:"predIouThresh,omitempty"`
	StabilityScoreThresh *float64 `json:"stabilityScoreThresh,omitempty"`
	StabilityScoreOffset *float64 `json:"stabilityScoreOffset,omitempty"`
	BoxNMSThresh         *float64 `json:"boxNmsThresh,omitempty"`
	// MaxObjects caps the objects added (DefaultEverythingObjects).
	MaxObjects int `json:"maxObjects,omitempty"`
	// Overlap is DefaultEverythingOverlap's fraction, 0..1.
	Overlap *float64 `json:"overlap,omitempty"`
}

// Params checks r and returns the generator's parameters.
func (r *EverythingRequest) Params() (autoseg.Params, error) {
	p := autoseg.DefaultParams()
	if r.PointsPerSide != 0 {
		if r.PointsPerSide < 1 || r.PointsPerSide > MaxEverythingPoints {
			return p, &kindError{ErrInvalid, fmt.Errorf("everything: pointsPerSide %d: want 1..%d", r.PointsPerSide, MaxEverythingPoints)}
		}
		p.PointsPerSide = r.PointsPerSide
	}
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.PredIoUThresh, r.PredIoUThresh)
	set(&p.StabilityScoreThresh, r.StabilityScoreThresh)
	set(&p.StabilityScoreOffset, r.StabilityScoreOffset)
	set(&p.BoxNMSThresh, r.BoxNMSThresh)
	if err := p.Validate(); err != nil {
		return p, &kindError{ErrInvalid, fmt.Errorf("everything: %w", err)}
	}
	if r.MaxObjects < 0 || r.MaxObjects > MaxEverythingObjects {
		return p, &kindError{ErrInvalid, fmt.Errorf("everything: maxObjects %d: want 1..%d", r.MaxObjects, MaxEverythingObjects)}
	}
	if o := r.Overlap; o != nil && !(*o >= 0 && *o <= 1) {
		return p, &kindError{ErrInvalid, fmt.Errorf("everything: overlap %g: want 0..1", *o)}
	}
	return p, nil
}

func (r *EverythingRequest) limits() (maxObjects int, overlap float64) {
	maxObjects, overlap = r.MaxObjects, DefaultEverythingOverlap
	if maxObjects == 0 {
		maxObjects = DefaultEverythingObjects
	}
	if r.Overlap != nil {
		overlap = *r.Overlap
	}
	return maxObjects, overlap
}

// Found is one mask that became an object.
type Found struct {
	Object    int      `json:"object"`
	IoU       float32  `json:"iou"`       // the decoder's predicted IoU
	Stability float32  `json:"stability"` // the generator's stability score
	Area      int      `json:"area"`
	Box       mask.Box `json:"box"` // source pixels, x1 and y1 exclusive
}

// EverythingResult answers a segment-everything run.
type EverythingResult struct {
	Frame int `json:"frame"`
	// Found is how many masks the generator kept; Overlapping of them
	// were already objects' (or inside a mask added before them), Capped
	// were over MaxObjects.
	Found       int     `json:"found"`
	Overlapping int     `json:"overlapping"`
	Capped      int     `json:"capped"`
	Added       []Found `json:"added"`
	// Objects is every object's output on the frame afterwards.
	Objects []stream.ObjectMeta `json:"objects"`
	// Seconds is the generator's model and Go time.
	Seconds float64 `json:"seconds"`
}

// newMasks picks, in the generator's order, the masks of which at most
// overlap (a fraction of their area) lies under taken (a w*h mask of the
// objects there, grown by each mask picked), up to limit.
func newMasks(masks []autoseg.Mask, taken []byte, overlap float64, limit int) (keep []autoseg.Mask, overlapping, capped int, err error) {
	for _, m := range masks {
		bin, err := m.RLE.Decode()
		if err != nil {
			return nil, 0, 0, err
		}
		if len(bin) != len(taken) || m.Area == 0 {
			overlapping++
			continue
		}
		under := 0
		for i, v := range bin {
			if v != 0 && taken[i] != 0 {
				under++
			}
		}
		if float64(under) > overlap*float64(m.Area) {
			overlapping++
			continue
		}
		if len(keep) >= limit {
			capped++
			continue
		}
		keep = append(keep, m)
		for i, v := range bin {
			if v != 0 {
				taken[i] = 1
			}
		}
	}
	return keep, overlapping, capped, nil
}

// takenBy is the union of metas' masks on a w x h frame.
func takenBy(metas []stream.ObjectMeta, w, h int) []byte {
	taken := make([]byte, w*h)
	for _, o := range metas {
		if o.RLE == nil || !o.Present || o.RLE.Width != w || o.RLE.Height != h {
			continue
		}
		if bin, err := o.RLE.Decode(); err == nil {
			for i, v := range bin {
				taken[i] |= v
			}
		}
	}
	return taken
}

func found(obj int, m autoseg.Mask) Found {
	return Found{Object: obj, IoU: m.PredictedIoU, Stability: m.StabilityScore, Area: m.Area,
		Box: mask.Box{X0: float32(m.Box[0]), Y0: float32(m.Box[1]), X1: float32(m.Box[2] + 1), Y1: float32(m.Box[3] + 1)}}
}

// Everything runs the automatic mask generator on a frame (edit sessions:
// req.Frame; live: the model's latest) and makes each mask it finds that
// no object covers an object, by a mask prompt there: tracked, listed
// and removable as any other (an edit session can undo each).
func (s *Session) Everything(ctx context.Context, req EverythingRequest) (*EverythingResult, error) {
	if !s.Model() {
		return nil, ErrNoModel
	}
	p, err := req.Params()
	if err != nil {
		return nil, err
	}
	limit, overlap := req.limits()
	if err := s.promptBudget.check(s.ID); err != nil {
		return nil, err
	}
	if s.ed != nil {
		if req.Frame == nil {
			return nil, &kindError{ErrInvalid, errors.New("everything: an edit session needs \"frame\", the frame to segment")}
		}
		return s.ed.everything(ctx, *req.Frame, p, limit, overlap)
	}
	var out *EverythingResult
	err = s.onModel(ctx, func(ctx context.Context) error {
		s.mu.Lock()
		frame := s.tracked
		var metas []stream.ObjectMeta
		if ov := s.overlay; ov != nil {
			metas = ov.objects
		}
		s.mu.Unlock()
		if frame < 0 {
			return ErrNotReady
		}
		out, err = s.everythingLive(ctx, frame, metas, p, limit, overlap)
		return err
	})
	return out, err
}

// everythingLive runs the generator on frame, the latest tracked, and
// adds the new masks as objects. Model goroutine only.
func (s *Session) everythingLive(ctx context.Context, frame int, metas []stream.ObjectMeta, p autoseg.Params, limit int, overlap float64) (*EverythingResult, error) {
	begin := time.Now()
	masks, _, err := EverythingOf(ctx, s.trk, frame, p)
	s.promptBudget.spend(time.Since(begin))
	if err != nil {
		return nil, fmt.Errorf("everything: frame %d: %w", frame, err)
	}
	out := &EverythingResult{Frame: frame, Found: len(masks), Added: []Found{}, Seconds: time.Since(begin).Seconds()}
	keep, ov, capped, err := newMasks(masks, takenBy(metas, s.Info.Width, s.Info.Height), overlap, limit)
	if err != nil {
		return nil, err
	}
	out.Overlapping, out.Capped = ov, capped
	for _, m := range keep {
		rle := m.RLE
		_, obj, err := s.prompt(ctx, prompt.Prompt{Mask: &rle})
		if err != nil {
			return out, err
		}
		out.Added = append(out.Added, found(obj, m))
	}
	s.mu.Lock()
	if ov := s.overlay; ov != nil {
		out.Objects = ov.objects
	}
	s.mu.Unlock()
	return out, nil
}

// onModel runs fn on the live session's model goroutine, the tracker's
// only user, and waits for it.
func (s *Session) onModel(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.trk == nil {
		return ErrNoModel
	}
	s.queue.Add(1)
	defer s.queue.Add(-1)
	s.touch()
	defer UrgentOf(s.trk)()
	r, err := s.ask(ctx, promptRequest{run: fn})
	if err != nil {
		return err
	}
	return r.err
}

// everything is Everything for an edit session: on the model goroutine,
// each new object a prompt that undo takes back.
func (e *editor) everything(ctx context.Context, frame int, p autoseg.Params, limit int, overlap float64) (*EverythingResult, error) {
	if frame < 0 || frame >= e.frames {
		return nil, fmt.Errorf("%w: everything on frame %d; the video has frames 0..%d", ErrInvalid, frame, e.frames-1)
	}
	s := e.s
	e.mu.Lock()
	e.pos, e.playing = frame, false
	e.mu.Unlock()
	e.poke()
	var out *EverythingResult
	err := e.do(ctx, fmt.Sprintf("segmenting everything on frame %d", frame), func(ctx context.Context) error {
		begin := time.Now()
		masks, _, err := EverythingOf(ctx, e.trk, frame, p)
		s.promptBudget.spend(time.Since(begin))
		if err != nil {
			return fmt.Errorf("everything: frame %d: %w", frame, err)
		}
		out = &EverythingResult{Frame: frame, Found: len(masks), Added: []Found{}, Seconds: time.Since(begin).Seconds()}
		e.mu.Lock()
		metas := e.results[frame]
		e.mu.Unlock()
		keep, ov, capped, err := newMasks(masks, takenBy(metas, s.Info.Width, s.Info.Height), overlap, limit)
		if err != nil {
			return err
		}
		out.Overlapping, out.Capped = ov, capped
		for _, m := range keep {
			s.mu.Lock()
			obj := s.nextObj
			s.nextObj++
			s.mu.Unlock()
			rle := m.RLE
			pr := prompt.Prompt{Object: obj, Frame: frame, Mask: &rle}
			_, metas, err := e.applyPrompt(ctx, pr)
			if err != nil {
				return err
			}
			e.mu.Lock()
			e.applied = append(e.applied, pr)
			e.mu.Unlock()
			out.Added = append(out.Added, found(obj, m))
			out.Objects = metas
			if err := e.record(EditOp{Kind: opPrompt, Object: obj, Prompts: []prompt.Prompt{pr}}); err != nil {
				return err
			}
		}
		if out.Objects == nil {
			out.Objects = metas
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
