// Package memory keeps one object's memory bank: what its past frames leave
// for memory attention to read, chosen by SAM 2's rules or SAMURAI's
// motion-aware rules, and bounded so endless streams do not grow.
package memory

import (
	"fmt"
	"math"
	"sort"
)

// Entry is what one tracked frame leaves behind for one object.
type Entry struct {
	Frame int
	// Feat holds the memory-encoder features as bfloat16 (the reference
	// stores them so too); nil until the memory encoder has run.
	Feat []uint16
	// Ptr is the object pointer (hidden_dim floats).
	Ptr []float32
	// Logits are the chosen low-resolution mask logits (the frame's output,
	// and the mask prompt of a later correction click there).
	Logits []float32
	// Candidate is the decoder token chosen (0 single-mask, 1..3 multimask).
	Candidate int
	// ObjectScore is the object-presence logit.
	ObjectScore float32
	// IoU is the chosen candidate's predicted IoU.
	IoU float32
	// KalmanScore is the Kalman IoU of the chosen candidate; valid only when
	// HasKalman is set (SAMURAI after its stable phase).
	KalmanScore float32
	HasKalman   bool
	// Conditioning marks frames that carry prompts.
	Conditioning bool
	// Reverse records the direction the frame was tracked in.
	Reverse bool
}

// Config sets the bank's selection rules and bounds.
type Config struct {
	NumMaskmem  int // memory frames per step incl. the conditioning slot (7)
	MaxPointers int // object pointers per step (16)
	// MaxCond caps conditioning frames attended to (temporally closest kept,
	// as select_closest_cond_frames); 0 = all.
	MaxCond int
	// SignedPointerOffsets follows use_signed_tpos_enc_to_obj_ptrs.
	SignedPointerOffsets bool
	// PastPointersOnly follows only_obj_ptrs_in_the_past_for_eval.
	PastPointersOnly bool

	// Motion-aware selection (SAMURAI) when Samurai is set.
	Samurai         bool
	IoUThreshold    float32 // memory_bank_iou_threshold (0.5)
	ObjectThreshold float32 // memory_bank_obj_score_threshold (0)
	KalmanThreshold float32 // memory_bank_kf_score_threshold (0)
	// SamuraiScan is how many valid frames the backward scan collects
	// (max_obj_ptrs_in_encoder - 1 = 15 in SAMURAI).
	SamuraiScan int
}

// Bank is one object's memory. It is not safe for concurrent use.
type Bank struct {
	cfg      Config
	cond     map[int]*Entry
	condSeq  []int // insertion order, as the reference's dict
	nonCond  map[int]*Entry
	firstCnd int
}

// NewBank returns an empty bank.
func NewBank(cfg Config) *Bank {
	if cfg.NumMaskmem <= 0 {
		cfg.NumMaskmem = 7
	}
	if cfg.MaxPointers <= 0 {
		cfg.MaxPointers = 16
	}
	if cfg.SamuraiScan <= 0 {
		cfg.SamuraiScan = cfg.MaxPointers - 1
	}
	return &Bank{cfg: cfg, cond: map[int]*Entry{}, nonCond: map[int]*Entry{}, firstCnd: -1}
}

// Config returns the bank's configuration.
func (b *Bank) Config() Config { return b.cfg }

// PutCond stores a conditioning frame, replacing any earlier output there.
func (b *Bank) PutCond(e *Entry) {
	e.Conditioning = true
	if _, ok := b.cond[e.Frame]; !ok {
		b.condSeq = append(b.condSeq, e.Frame)
	}
	b.cond[e.Frame] = e
	delete(b.nonCond, e.Frame)
	if b.firstCnd < 0 || e.Frame < b.firstCnd {
		b.firstCnd = e.Frame
	}
	if b.cfg.MaxCond > 0 && len(b.condSeq) > b.cfg.MaxCond {
		b.evictCond(e.Frame)
	}
}

// evictCond drops the conditioning frame farthest from frame, keeping the
// first prompt of the object (it defines what is tracked).
func (b *Bank) evictCond(frame int) {
	far, farDist := -1, -1
	for _, f := range b.condSeq {
		if f == b.firstCnd {
			continue
		}
		if d := abs(f - frame); d > farDist {
			far, farDist = f, d
		}
	}
	if far < 0 {
		return
	}
	delete(b.cond, far)
	for i, f := range b.condSeq {
		if f == far {
			b.condSeq = append(b.condSeq[:i], b.condSeq[i+1:]...)
			break
		}
	}
}

// Put stores a non-conditioning frame.
func (b *Bank) Put(e *Entry) {
	e.Conditioning = false
	b.nonCond[e.Frame] = e
}

// Get returns the stored output of frame, conditioning first.
func (b *Bank) Get(frame int) (*Entry, bool) {
	if e, ok := b.cond[frame]; ok {
		return e, true
	}
	e, ok := b.nonCond[frame]
	return e, ok
}

// IsCond reports whether frame is a conditioning frame of this object.
func (b *Bank) IsCond(frame int) bool { _, ok := b.cond[frame]; return ok }

// HasCond reports whether the object has any prompt yet.
func (b *Bank) HasCond() bool { return len(b.cond) > 0 }

// CondFrames lists conditioning frames in insertion order.
func (b *Bank) CondFrames() []int { return append([]int(nil), b.condSeq...) }

// FirstCond is the earliest conditioning frame, or -1.
func (b *Bank) FirstCond() int { return b.firstCnd }

// Len reports how many frames the bank holds (conditioning + others).
func (b *Bank) Len() int { return len(b.cond) + len(b.nonCond) }

// FeatureFrames reports how many entries hold memory features.
func (b *Bank) FeatureFrames() int {
	n := 0
	for _, e := range b.cond {
		if e.Feat != nil {
			n++
		}
	}
	for _, e := range b.nonCond {
		if e.Feat != nil {
			n++
		}
	}
	return n
}

// MemoryRef is a memory frame with its temporal slot (0 = conditioning).
type MemoryRef struct {
	Entry *Entry
	Slot  int
}

// PointerRef is an object pointer with its frame offset as the graph wants it.
type PointerRef struct {
	Entry  *Entry
	Offset float32
}

// Selection is what memory attention reads for one frame.
type Selection struct {
	Frames   []MemoryRef
	Pointers []PointerRef
}

// Select picks memory frames and pointers for frame, as
// SAM2Base._prepare_memory_conditioned_features does (or SAMURAI's
// motion-aware variant). numFrames bounds pointer lookups (0 = unknown).
func (b *Bank) Select(frame int, reverse bool, numFrames int) (Selection, error) {
	if len(b.cond) == 0 {
		return Selection{}, fmt.Errorf("memory: no conditioning frame for frame %d", frame)
	}
	var sel Selection
	selected, unselected := b.closestCond(frame)
	for _, f := range selected {
		sel.Frames = append(sel.Frames, MemoryRef{Entry: b.cond[f], Slot: 0})
	}
	lookup := func(f int) *Entry {
		if e, ok := b.nonCond[f]; ok {
			return e
		}
		if unselected[f] {
			return b.cond[f]
		}
		return nil
	}
	step := 1
	if reverse {
		step = -1
	}
	if b.cfg.Samurai && !reverse {
		sel.Frames = append(sel.Frames, b.samuraiFrames(frame, lookup)...)
	} else {
		for slot := 1; slot < b.cfg.NumMaskmem; slot++ {
			rel := b.cfg.NumMaskmem - slot
			if e := lookup(frame - rel*step); e != nil {
				sel.Frames = append(sel.Frames, MemoryRef{Entry: e, Slot: slot})
			}
		}
	}
	for i, r := range sel.Frames {
		if r.Entry.Feat == nil {
			return Selection{}, fmt.Errorf("memory: frame %d (slot %d) has no memory features", r.Entry.Frame, sel.Frames[i].Slot)
		}
	}

	maxPtrs := b.cfg.MaxPointers
	if numFrames > 0 && numFrames < maxPtrs {
		maxPtrs = numFrames
	}
	sign := 1
	if reverse {
		sign = -1
	}
	for _, f := range selected {
		if b.cfg.PastPointersOnly && ((reverse && f < frame) || (!reverse && f > frame)) {
			continue
		}
		off := (frame - f) * sign
		if !b.cfg.SignedPointerOffsets {
			off = abs(frame - f)
		}
		sel.Pointers = append(sel.Pointers, PointerRef{Entry: b.cond[f], Offset: float32(off)})
	}
	for d := 1; d < maxPtrs; d++ {
		t := frame - d*step
		if t < 0 || (numFrames > 0 && t >= numFrames) {
			break
		}
		if e := lookup(t); e != nil {
			sel.Pointers = append(sel.Pointers, PointerRef{Entry: e, Offset: float32(d)})
		}
	}
	return sel, nil
}

// closestCond mirrors select_closest_cond_frames: all conditioning frames
// when uncapped, else the closest before and after plus the nearest others.
// Selected frames keep insertion order.
func (b *Bank) closestCond(frame int) (selected []int, unselected map[int]bool) {
	max := b.cfg.MaxCond
	if max <= 0 || len(b.condSeq) <= max {
		return append([]int(nil), b.condSeq...), nil
	}
	keep := map[int]bool{}
	before, after := math.MinInt, math.MaxInt
	for _, f := range b.condSeq {
		if f < frame && f > before {
			before = f
		}
		if f >= frame && f < after {
			after = f
		}
	}
	if before != math.MinInt {
		keep[before] = true
	}
	if after != math.MaxInt && len(keep) < max {
		keep[after] = true
	}
	rest := make([]int, 0, len(b.condSeq))
	for _, f := range b.condSeq {
		if !keep[f] {
			rest = append(rest, f)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return abs(rest[i]-frame) < abs(rest[j]-frame) })
	for _, f := range rest {
		if len(keep) >= max {
			break
		}
		keep[f] = true
	}
	unselected = map[int]bool{}
	for _, f := range b.condSeq {
		if keep[f] {
			selected = append(selected, f)
		} else {
			unselected[f] = true
		}
	}
	return selected, unselected
}

// samuraiFrames is SAMURAI's motion-aware memory selection: scan back from
// frame-1 keeping frames whose IoU, object score and Kalman score pass, up to
// SamuraiScan valid frames; frame-1 is always kept; the last NumMaskmem-1
// become memory with slots by rank. As in SAMURAI, the scan stops before the
// object's first conditioning frame + 1.
func (b *Bank) samuraiFrames(frame int, lookup func(int) *Entry) []MemoryRef {
	var valid []int // most recent first
	for i := frame - 1; i > b.firstCnd+1; i-- {
		e, ok := b.nonCond[i]
		if !ok {
			continue
		}
		if e.IoU > b.cfg.IoUThreshold && e.ObjectScore > b.cfg.ObjectThreshold &&
			(!e.HasKalman || e.KalmanScore > b.cfg.KalmanThreshold) {
			valid = append(valid, i)
		}
		if len(valid) >= b.cfg.SamuraiScan {
			break
		}
	}
	// Oldest first, as SAMURAI's list, then frame-1 at the end if missing.
	for i, j := 0, len(valid)-1; i < j; i, j = i+1, j-1 {
		valid[i], valid[j] = valid[j], valid[i]
	}
	if len(valid) == 0 || valid[len(valid)-1] != frame-1 {
		valid = append(valid, frame-1)
	}
	var refs []MemoryRef
	n := b.cfg.NumMaskmem - 1
	for slot := 1; slot <= n; slot++ {
		idx := len(valid) - (n + 1 - slot)
		if idx < 0 {
			continue
		}
		if e := lookup(valid[idx]); e != nil {
			refs = append(refs, MemoryRef{Entry: e, Slot: slot})
		}
	}
	return refs
}

// Prune drops what attention can no longer read when tracking continues
// from frame in the given direction: non-conditioning frames beyond the
// pointer window lose everything, and features are dropped from frames that
// can no longer be memory. Conditioning frames stay (capped by MaxCond).
func (b *Bank) Prune(frame int, reverse bool) {
	step := 1
	if reverse {
		step = -1
	}
	// Frames behind `frame` by at least MaxPointers are never read again.
	keepFeat := map[int]bool{}
	for d := 0; d < b.cfg.NumMaskmem; d++ {
		keepFeat[frame-d*step] = true
	}
	if b.cfg.Samurai && !reverse {
		for _, r := range b.samuraiFrames(frame+1, func(f int) *Entry { return b.nonCond[f] }) {
			keepFeat[r.Entry.Frame] = true
		}
	}
	for f, e := range b.nonCond {
		behind := (frame - f) * step
		if behind >= b.cfg.MaxPointers {
			// SAMURAI's scan reads old frames' scores; keep the light entry
			// (no features) only while it could still be memory.
			if !(b.cfg.Samurai && keepFeat[f]) {
				delete(b.nonCond, f)
				continue
			}
		}
		if behind > 0 && !keepFeat[f] {
			e.Feat = nil
		}
	}
}

// ClearNonCond forgets all non-conditioning outputs (a fresh pass).
func (b *Bank) ClearNonCond() { b.nonCond = map[int]*Entry{} }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ToBF16 rounds float32 values to bfloat16 (round to nearest even), as
// torch's .to(torch.bfloat16) does.
func ToBF16(src []float32, dst []uint16) {
	for i, f := range src {
		u := math.Float32bits(f)
		if u&0x7fffffff > 0x7f800000 { // NaN stays NaN
			dst[i] = uint16(u>>16) | 0x40
			continue
		}
		u += 0x7fff + (u>>16)&1
		dst[i] = uint16(u >> 16)
	}
}

// FromBF16 widens bfloat16 values to float32.
func FromBF16(src []uint16, dst []float32) {
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}
