package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
)

// Undo and redo of an edit session's prompts. The editor keeps the
// prompts in effect in the order they were applied, and a stack of the
// operations that changed them (a prompt, clearing an object's prompts,
// removing an object). The tracker cannot take a prompt back, so undoing
// one rebuilds that object alone: it is removed from the tracker and its
// remaining prompts are replayed in their order (each object has its own
// memory, so the others are untouched). Through a journal (JournalFile)
// the removal and the replayed prompts are stored as they happen, so the
// store always holds the prompts in effect and a restart brings back the
// undone state; the stacks are journaled after each change
// (HistoryJournal), so undo and redo go on after a restart.

// Op kinds.
const (
	opPrompt = "prompt"
	opClear  = "clear"
	opRemove = "remove"
)

// EditOp is one undoable change to the prompts in effect.
type EditOp struct {
	Kind   string `json:"kind"` // "prompt", "clear" or "remove"
	Object int    `json:"object"`
	// Prompts: the prompt applied ("prompt"), or the object's prompts
	// taken out ("clear", "remove").
	Prompts []prompt.Prompt `json:"prompts"`
}

// maxUndo bounds the undo stack (the oldest operations drop off), so
// the history a journal rewrites after each change stays small.
const maxUndo = 100

// EditHistory is what a journal keeps of an edit session's undo state:
// the prompts in effect in their order, and the undo and redo stacks.
type EditHistory struct {
	Applied []prompt.Prompt `json:"applied"`
	Undo    []EditOp        `json:"undo"`
	Redo    []EditOp        `json:"redo"`
}

// HistoryJournal is a FileTracker (a journal) that keeps an edit
// session's history durable, so that undo and redo reach across a
// restart.
type HistoryJournal interface {
	SaveHistory(h EditHistory) error
}

// valid reports whether op can be undone or redone as stored.
func (op EditOp) valid() bool {
	switch op.Kind {
	case opPrompt:
		return len(op.Prompts) == 1 && op.Prompts[0].Object == op.Object
	case opClear, opRemove:
		for _, p := range op.Prompts {
			if p.Object != op.Object {
				return false
			}
		}
		return true
	}
	return false
}

func (op EditOp) String() string {
	switch op.Kind {
	case opPrompt:
		p := op.Prompts[0]
		what := "click"
		switch {
		case p.Box != nil:
			what = "box"
		case p.Mask != nil:
			what = "mask"
		case p.Candidate != nil:
			what = fmt.Sprintf("candidate %d", *p.Candidate)
		}
		return fmt.Sprintf("%s on object %d, frame %d", what, op.Object, p.Frame)
	case opClear:
		return fmt.Sprintf("clear object %d", op.Object)
	}
	return fmt.Sprintf("remove object %d", op.Object)
}

// Click is one point or box of the prompts in effect, for drawing them
// (source pixels; a box is [x0, y0, x1, y1]).
type Click struct {
	Object   int         `json:"object"`
	Frame    int         `json:"frame"`
	X        float32     `json:"x"`
	Y        float32     `json:"y"`
	Positive bool        `json:"positive"`
	Box      *[4]float32 `json:"box,omitempty"`
}

// clicks lists the points and boxes of the prompts in effect; e.mu held.
func (e *editor) clicks() []Click {
	out := []Click{}
	for _, p := range e.applied {
		for _, pt := range p.Points {
			out = append(out, Click{Object: p.Object, Frame: p.Frame, X: pt.X, Y: pt.Y, Positive: pt.Positive})
		}
		if b := p.Box; b != nil {
			out = append(out, Click{Object: p.Object, Frame: p.Frame, X: b.X0, Y: b.Y0, Positive: true, Box: &[4]float32{b.X0, b.Y0, b.X1, b.Y1}})
		}
	}
	return out
}

// applyPrompt runs p on the tracker and shows its result: the prompted
// frame fresh, every other frame stale. Model goroutine only.
func (e *editor) applyPrompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, []stream.ObjectMeta, error) {
	res, err := e.trk.Prompt(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	s := e.s
	metas, _ := s.objectMetas(res)
	s.mu.Lock()
	s.objects[p.Object] = &objectState{frame: p.Frame}
	if p.Object >= s.nextObj {
		s.nextObj = p.Object + 1
	}
	s.tracked = res.Frame
	s.mu.Unlock()
	e.mu.Lock()
	// Results elsewhere came from the old prompts: every frame attends to
	// every conditioning frame (docs/web.md), so the next pass redoes
	// them all. Until then they stay shown, as stale.
	for f := range e.results {
		e.stale[f] = true
	}
	e.results[res.Frame] = metas
	delete(e.stale, res.Frame)
	e.changed = true
	key := PromptFrame{Object: p.Object, Frame: p.Frame}
	points := len(p.Points)
	if p.Append || p.Candidate != nil {
		// A pick among the click's candidates keeps its points.
		points += e.prompts[key]
	}
	e.prompts[key] = points
	e.mu.Unlock()
	e.poke()
	return res, metas, nil
}

// record adds a new operation: it can be undone, and nothing undone
// before can be redone any more. Model goroutine only.
func (e *editor) record(op EditOp) error {
	e.mu.Lock()
	e.undos = append(e.undos, op)
	if n := len(e.undos); n > maxUndo {
		e.undos = slices.Delete(e.undos, 0, n-maxUndo)
	}
	e.redos = nil
	e.mu.Unlock()
	return e.saveHistory()
}

// saveHistory journals the prompts in effect and the undo and redo
// stacks, when the tracker is a HistoryJournal. Model goroutine only.
func (e *editor) saveHistory() error {
	j, ok := e.trk.(HistoryJournal)
	if !ok {
		return nil
	}
	e.mu.Lock()
	h := EditHistory{Applied: slices.Clone(e.applied), Undo: slices.Clone(e.undos), Redo: slices.Clone(e.redos)}
	e.mu.Unlock()
	if h.Applied == nil {
		h.Applied = []prompt.Prompt{}
	}
	if err := j.SaveHistory(h); err != nil {
		return fmt.Errorf("journal the undo history: %w", err)
	}
	return nil
}

// restoreHistory makes a resumed session's history: applied are the
// prompts the journal replayed, in order; saved, the stacks it kept
// (nil when none). The saved stacks are used when they belong to those
// prompts (a crash between a change and its history leaves them
// behind); else each restored prompt can be undone, and nothing redone.
func (e *editor) restoreHistory(applied []prompt.Prompt, saved *EditHistory) {
	e.applied = applied
	if saved != nil && samePrompts(saved.Applied, applied) && allValid(saved.Undo) && allValid(saved.Redo) {
		e.undos, e.redos = saved.Undo, saved.Redo
		return
	}
	if saved != nil {
		e.s.log.Warn("edit: the stored undo history does not match the stored prompts; undo starts from the prompts", "session", e.s.ID)
	}
	e.undos, e.redos = nil, nil
	for _, p := range applied[max(0, len(applied)-maxUndo):] {
		e.undos = append(e.undos, EditOp{Kind: opPrompt, Object: p.Object, Prompts: []prompt.Prompt{p}})
	}
}

func allValid(ops []EditOp) bool {
	for _, op := range ops {
		if !op.valid() {
			return false
		}
	}
	return true
}

// samePrompts compares prompts as stored (JSON), so prompts that went
// through a store compare equal.
func samePrompts(a, b []prompt.Prompt) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true // nil and empty alike: every prompt undone
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// promptsOf returns object id's prompts in effect, in order; e.mu held.
func (e *editor) promptsOf(id int) []prompt.Prompt {
	var out []prompt.Prompt
	for _, p := range e.applied {
		if p.Object == id {
			out = append(out, p)
		}
	}
	return out
}

// drop takes object id out of the tracker (when it holds it) and out of
// the results; the other objects' results stand. Model goroutine only.
func (e *editor) drop(id int) error {
	e.mu.Lock()
	tracked := len(e.promptsOf(id)) > 0
	e.mu.Unlock()
	if tracked {
		if err := e.trk.RemoveObject(id); err != nil {
			return err
		}
	}
	e.mu.Lock()
	for f, objs := range e.results {
		e.results[f] = slices.DeleteFunc(slices.Clone(objs), func(o stream.ObjectMeta) bool { return o.ID == id })
	}
	for p := range e.prompts {
		if p.Object == id {
			delete(e.prompts, p)
		}
	}
	e.applied = slices.DeleteFunc(e.applied, func(p prompt.Prompt) bool { return p.Object == id })
	e.mu.Unlock()
	e.poke()
	return nil
}

// rebuild makes ps object id's prompts: the object leaves the tracker
// and ps are replayed in order. keep says whether an object left with
// no prompts stays listed. Model goroutine only.
func (e *editor) rebuild(ctx context.Context, id int, ps []prompt.Prompt, keep bool) error {
	if err := e.drop(id); err != nil {
		return err
	}
	for _, p := range ps {
		if _, _, err := e.applyPrompt(ctx, p); err != nil {
			return fmt.Errorf("replay the prompt on frame %d: %w", p.Frame, err)
		}
		e.mu.Lock()
		e.applied = append(e.applied, p)
		e.mu.Unlock()
	}
	if len(ps) == 0 {
		s := e.s
		s.mu.Lock()
		if keep {
			s.objects[id] = &objectState{frame: -1}
		} else {
			delete(s.objects, id)
		}
		s.mu.Unlock()
	}
	return nil
}

// takeOut removes object id's prompts (clear keeps the object listed,
// ready for new clicks; remove does not) and returns the operation.
func (e *editor) takeOut(ctx context.Context, kind string, id int) (EditOp, error) {
	e.mu.Lock()
	op := EditOp{Kind: kind, Object: id, Prompts: e.promptsOf(id)}
	e.mu.Unlock()
	return op, e.rebuild(ctx, id, nil, kind == opClear)
}

// revert undoes op; model goroutine only.
func (e *editor) revert(ctx context.Context, op EditOp) error {
	e.mu.Lock()
	ps := e.promptsOf(op.Object)
	e.mu.Unlock()
	switch op.Kind {
	case opPrompt:
		// The op on top of the stack is the object's latest prompt.
		if len(ps) == 0 {
			return fmt.Errorf("undo %s: the object has no prompts", op)
		}
		return e.rebuild(ctx, op.Object, ps[:len(ps)-1], false)
	default:
		return e.rebuild(ctx, op.Object, append(ps, op.Prompts...), false)
	}
}

// reapply redoes op; model goroutine only. It returns op as done now.
func (e *editor) reapply(ctx context.Context, op EditOp) (EditOp, error) {
	if op.Kind == opPrompt {
		p := op.Prompts[0]
		if _, _, err := e.applyPrompt(ctx, p); err != nil {
			return op, err
		}
		e.mu.Lock()
		e.applied = append(e.applied, p)
		e.mu.Unlock()
		return op, nil
	}
	return e.takeOut(ctx, op.Kind, op.Object)
}

var errNothing = errors.New("nothing to")

// step undoes (redo false) or redoes the latest operation.
func (e *editor) step(ctx context.Context, redo bool) error {
	what := "undo"
	if redo {
		what = "redo"
	}
	top := func() (EditOp, bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		st := e.undos
		if redo {
			st = e.redos
		}
		if len(st) == 0 {
			return EditOp{}, false
		}
		return st[len(st)-1], true
	}
	if e.trk == nil {
		return ErrNoModel
	}
	if _, ok := top(); !ok {
		return &kindError{ErrConflict, fmt.Errorf("%w %s", errNothing, what)}
	}
	return e.do(ctx, what+"ing", func(ctx context.Context) error {
		op, ok := top()
		if !ok {
			return &kindError{ErrConflict, fmt.Errorf("%w %s", errNothing, what)}
		}
		var err error
		if redo {
			op, err = e.reapply(ctx, op)
		} else {
			err = e.revert(ctx, op)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, op, err)
		}
		e.mu.Lock()
		if redo {
			e.redos = e.redos[:len(e.redos)-1]
			e.undos = append(e.undos, op)
		} else {
			e.undos = e.undos[:len(e.undos)-1]
			e.redos = append(e.redos, op)
		}
		e.mu.Unlock()
		return e.saveHistory()
	})
}

// change clears (kind opClear) or removes an object's prompts, undoably.
func (e *editor) change(ctx context.Context, kind string, id int) error {
	s := e.s
	s.mu.Lock()
	_, ok := s.objects[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no object %d in session %s", ErrNotFound, id, s.ID)
	}
	return e.do(ctx, fmt.Sprintf("%s object %d", map[string]string{opClear: "clearing", opRemove: "removing"}[kind], id), func(ctx context.Context) error {
		op, err := e.takeOut(ctx, kind, id)
		if err != nil {
			return err
		}
		s.dropCandidates(id)
		return e.record(op)
	})
}

// Undo takes back an edit session's latest prompt, clear or removal.
func (s *Session) Undo(ctx context.Context) error {
	if s.ed == nil {
		return s.notEdit()
	}
	return s.ed.step(ctx, false)
}

// Redo applies again what Undo took back last.
func (s *Session) Redo(ctx context.Context) error {
	if s.ed == nil {
		return s.notEdit()
	}
	return s.ed.step(ctx, true)
}

// ClearObject takes out an edit session's object's prompts and masks
// ("start over"), keeping the object listed for new clicks; undoable.
func (s *Session) ClearObject(ctx context.Context, id int) error {
	if s.ed == nil {
		return s.notEdit()
	}
	return s.ed.change(ctx, opClear, id)
}

// undoInfo fills the undo and redo fields of in; e.mu held.
func (e *editor) undoInfo(in *EditInfo) {
	if n := len(e.undos); n > 0 {
		in.Undo = e.undos[n-1].String()
	}
	if n := len(e.redos); n > 0 {
		in.Redo = e.redos[n-1].String()
	}
	in.Clicks = e.clicks()
}
