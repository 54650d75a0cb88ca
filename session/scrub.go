package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
)

// A file opened in mode "edit" behaves like the SAM 2 demo: it starts
// paused on frame 0; the page plays, pauses and seeks; a prompt applies to
// the frame shown (a conditioning frame for that object); tracking passes
// run forward, backward or both over the file with the tracker's
// Propagate, and every tracked frame's masks are kept (as RLE) to show when
// the player reaches that frame and to download (results.go).
//
// Two goroutines: the player owns the display decoder and publishes
// pictures; the model goroutine owns the tracker and its own decoder (a
// random-access decode.Source), taking prompts, removals and passes one at
// a time.

// FileTracker is what an edit session needs from the tracker
// (*tracker.Tracker with Config.Source, NumFrames and KeepAll).
type FileTracker interface {
	Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error)
	RemoveObject(id int) error
	Propagate(ctx context.Context, opts tracker.PropagateOptions, fn func(*tracker.FrameResult) error) error
}

// EditInfo is the player and tracking state of an edit session.
type EditInfo struct {
	Frames   int  `json:"frames"`   // exact frame count
	Position int  `json:"position"` // frame the player is on
	Playing  bool `json:"playing"`
	// Done lists the frames with results since the last prompt, as
	// inclusive [first, last] ranges.
	Done      [][2]int `json:"done"`
	DoneCount int      `json:"doneCount"`
	// Stale lists the frames whose results came before the last prompt:
	// still shown, replaced by the next pass (docs/web.md says why a
	// correction makes them stale).
	Stale [][2]int `json:"stale"`
	// Pass is the running pass's progress (nil when none).
	Pass *PassProgress `json:"pass,omitempty"`
	// Prompts are the conditioning frames: where each object was prompted.
	Prompts []PromptFrame `json:"prompts"`
	// Tracking is the direction of the running pass ("" when none).
	Tracking string `json:"tracking,omitempty"`
	// Error is why the last pass stopped early, if it did.
	Error string `json:"error,omitempty"`
	// Undo and Redo say what undo and redo would do ("" when nothing);
	// Clicks are the points and boxes of the prompts in effect (undo.go).
	Undo   string  `json:"undo,omitempty"`
	Redo   string  `json:"redo,omitempty"`
	Clicks []Click `json:"clicks"`
	// Lanes say, per object, where along the video it is present
	// (timeline.go).
	Lanes []Lane `json:"lanes"`
}

// PassProgress is a running pass's own progress: frames it tracked of
// the frames it will track, and an estimate of the time left.
type PassProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
	// EtaMs estimates the milliseconds left from the pass's rate so far
	// (-1 until a frame is done).
	EtaMs int64 `json:"etaMs"`
	// Frame is the frame it tracked last (-1 before the first).
	Frame int `json:"frame"`
}

// PromptFrame is one object's conditioning frame.
type PromptFrame struct {
	Object int `json:"object"`
	Frame  int `json:"frame"`
}

// PlayerRequest controls an edit session's player (the body of POST
// /api/sessions/{id}/player).
type PlayerRequest struct {
	Action string `json:"action"` // "play", "pause" or "seek"
	Frame  int    `json:"frame"`  // for "seek"
}

// TrackRequest starts a tracking pass (the body of POST
// /api/sessions/{id}/track).
type TrackRequest struct {
	Direction string `json:"direction"` // "forward", "backward" or "both"
}

type editor struct {
	s      *Session
	frames int
	view   *decode.Source  // the player's; owned by its goroutine
	mdec   *decode.Decoder // the tracker's, behind its FrameSource
	trk    FileTracker     // nil without a model; model goroutine only
	wake   chan struct{}   // one slot: the player has something new to show
	jobs   chan edJob
	model  sync.WaitGroup // the model goroutine, waited for before the tracker closes

	mu          sync.Mutex
	pos         int
	playing     bool
	gen         int                         // bumped when what the player shows changes
	results     map[int][]stream.ObjectMeta // frame -> objects, fresh or stale
	stale       map[int]bool                // frames of results from before the last prompt
	changed     bool                        // a prompt or removal since the last complete pass
	prompts     map[PromptFrame]int         // points on each prompted object and frame
	pass        *PassProgress
	passStart   time.Time
	follow      bool // the player shows the frame the pass tracks (until the user seeks)
	busy        string
	tracking    string
	trackErr    string
	cancelTrack context.CancelFunc
	// The prompts in effect in their order, and the undo and redo stacks
	// (undo.go); changed on the model goroutine only.
	applied      []prompt.Prompt
	undos, redos []EditOp

	thumbMu sync.Mutex // one build of the thumbnails at a time
	thumbs  *Thumbnails
}

type edJob struct {
	busy string
	fn   func(ctx context.Context) error
	done chan error
}

// ParseMode reads a session mode: "live" (or "") or "edit".
func ParseMode(m string) (edit bool, err error) {
	switch strings.TrimSpace(m) {
	case "", "live":
		return false, nil
	case "edit":
		return true, nil
	}
	return false, fmt.Errorf("%w: mode %q: want \"live\" or \"edit\"", ErrInvalid, m)
}

// Restorer is a FileTracker that brings back a stored session (a journal
// on resume): the stored prompts are in the tracker already.
type Restorer interface {
	Restored() Restored
}

// Restored is what a journal brings back of an edit session.
type Restored struct {
	Frames []*tracker.FrameResult // the frames tracked before
	// Stale lists those of Frames from before the last correction.
	Stale   []int
	Prompts []PromptFrame // the conditioning frames
	// Applied are the prompts replayed into the tracker, in order.
	Applied []prompt.Prompt
	// History is the undo state kept with them; nil when none was.
	History *EditHistory
}

func (m *Manager) newEditor(ctx context.Context, ss *Session, spec Spec) (*editor, error) {
	cfg := m.cfg
	n, err := ss.dec.CountFrames(ctx)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", ss.Name, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s has no frames", ErrInvalid, ss.Name)
	}
	e := &editor{
		s: ss, frames: n, view: decode.NewSource(ss.dec, n, 2),
		wake: make(chan struct{}, 1), jobs: make(chan edJob),
		results: map[int][]stream.ObjectMeta{}, stale: map[int]bool{}, prompts: map[PromptFrame]int{},
	}
	if cfg.NewFileTracker == nil {
		return e, nil
	}
	e.mdec, err = decode.Open(ctx, ss.path, decode.Options{ModelSize: cfg.ModelSize, Formats: decode.VideoFormats})
	if err != nil {
		return nil, fmt.Errorf("open %s for the model: %w", ss.Name, err)
	}
	e.trk, err = cfg.NewFileTracker(ctx, ss.Info, n, decode.NewSource(e.mdec, n, 4))
	if err != nil {
		_ = e.mdec.Close()
		return nil, fmt.Errorf("open tracker: %w", err)
	}
	if cfg.JournalFile != nil {
		spec.Info.Frames = n
		j, err := cfg.JournalFile(ctx, spec, e.trk)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		e.trk = j
	}
	if r, ok := e.trk.(Restorer); ok {
		e.restore(r)
	}
	return e, nil
}

// restore shows a resumed session as it was: its objects, conditioning
// frames and tracked frames.
func (e *editor) restore(r Restorer) {
	rs := r.Restored()
	s := e.s
	for _, f := range rs.Frames {
		metas, _ := s.objectMetas(f)
		e.results[f.Frame] = metas
	}
	for _, f := range rs.Stale {
		if _, ok := e.results[f]; ok {
			e.stale[f] = true
		}
	}
	e.restoreHistory(rs.Applied, rs.History)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range rs.Prompts {
		e.prompts[p] = max(e.prompts[p], 1) // counts restart at resume
		s.objects[p.Object] = &objectState{frame: p.Frame}
		s.nextObj = max(s.nextObj, p.Object+1)
	}
}

// close frees what the editor owns besides the session's decoder, once
// the model goroutine is done with it (the session's context has ended).
func (e *editor) close() {
	e.model.Wait()
	_ = CloseTracker(e.trk)
	if e.mdec != nil {
		_ = e.mdec.Close()
	}
}

func (e *editor) info() (*EditInfo, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := &EditInfo{Frames: e.frames, Position: e.pos, Playing: e.playing, Tracking: e.tracking, Error: e.trackErr,
		Done: [][2]int{}, Stale: [][2]int{}, Prompts: []PromptFrame{}}
	for _, f := range slices.Sorted(maps.Keys(e.results)) {
		if e.stale[f] {
			in.Stale = addRange(in.Stale, f)
		} else {
			in.Done = addRange(in.Done, f)
			in.DoneCount++
		}
	}
	if p := e.pass; p != nil {
		cp := *p
		cp.EtaMs = -1
		if cp.Done > 0 {
			per := time.Since(e.passStart) / time.Duration(cp.Done)
			cp.EtaMs = (per * time.Duration(cp.Total-cp.Done)).Milliseconds()
		}
		in.Pass = &cp
	}
	for p := range e.prompts {
		in.Prompts = append(in.Prompts, p)
	}
	slices.SortFunc(in.Prompts, func(a, b PromptFrame) int {
		if a.Frame != b.Frame {
			return a.Frame - b.Frame
		}
		return a.Object - b.Object
	})
	e.undoInfo(in)
	in.Lanes = e.lanes()
	return in, e.busy
}

// addRange adds frame f to sorted inclusive ranges ending before f.
func addRange(rs [][2]int, f int) [][2]int {
	if k := len(rs); k > 0 && rs[k-1][1] == f-1 {
		rs[k-1][1] = f
		return rs
	}
	return append(rs, [2]int{f, f})
}

func (e *editor) poke() {
	e.mu.Lock()
	e.gen++
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run is the player: it publishes the frame at the play position when it
// changes (and again every second while paused, so a viewer who just
// joined gets a picture), advancing at the source rate while playing.
func (e *editor) run(ctx context.Context, log *slog.Logger) error {
	if e.trk != nil {
		e.model.Add(1)
		go func() {
			defer e.model.Done()
			e.modelLoop(ctx)
		}()
	}
	fps := e.s.Info.FPS
	if fps <= 0 || fps > 240 {
		fps = 30
	}
	frameDur := time.Duration(float64(time.Second) / fps)
	start := time.Now()
	lastPos, lastGen, lastViewers := -1, -1, 0
	var lastSent time.Time
	for {
		e.mu.Lock()
		pos, playing, gen := e.pos, e.playing, e.gen
		objs := e.results[pos]
		e.mu.Unlock()
		viewers := e.s.viewers()
		if viewers > 0 {
			// Watching counts as use: the idle timeout runs from when the
			// last viewer left, so a reload finds its session.
			e.s.touch()
		}
		if viewers > 0 && (pos != lastPos || gen != lastGen || viewers != lastViewers || time.Since(lastSent) > time.Second) {
			f, err := e.view.Frame(ctx, pos)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("frame %d: %w", pos, err)
			}
			now := time.Now()
			meta := func(sent time.Time) stream.FrameMeta {
				if pos != lastPos {
					e.s.send.Tick(sent, sent.Sub(now))
				}
				m := stream.FrameMeta{Frame: pos, MaskFrame: -1, Objects: objs, DecodedAt: now.UnixMilli(), SentAt: sent.UnixMilli(),
					SourceFPS: round1(e.s.send.Rate()), LatencyMs: ms(sent.Sub(now))}
				if objs != nil {
					m.MaskFrame = pos
				}
				return m
			}
			// The stream clock only moves forward, whatever frame is shown.
			if _, err := e.s.publish(f, time.Since(start), meta, func() []overlay.ObjectMask { return decodeMasks(objs) }); err != nil {
				return err
			}
			lastPos, lastGen, lastViewers, lastSent = pos, gen, viewers, now
		}
		wait := time.Second
		if playing {
			wait = frameDur
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-e.wake:
			t.Stop()
		case <-t.C:
			if playing {
				e.mu.Lock()
				if e.playing && e.pos == pos {
					if e.pos+1 < e.frames {
						e.pos++
					} else {
						e.playing = false // stop on the last frame, as players do
					}
				}
				e.mu.Unlock()
			}
		}
	}
}

func (e *editor) modelLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.jobs:
			e.mu.Lock()
			e.busy = j.busy
			e.mu.Unlock()
			err := j.fn(ctx)
			e.mu.Lock()
			e.busy = ""
			e.mu.Unlock()
			j.done <- err
		}
	}
}

// do runs fn on the model goroutine and waits for it; the session's queue
// counts it until it is done.
func (e *editor) do(ctx context.Context, busy string, fn func(ctx context.Context) error) error {
	if e.trk == nil {
		return ErrNoModel
	}
	e.s.queue.Add(1)
	defer e.s.queue.Add(-1)
	j := edJob{busy: busy, fn: fn, done: make(chan error, 1)}
	select {
	case e.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.s.done:
		return ErrEnded
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *editor) prompt(ctx context.Context, p prompt.Prompt) (*PromptResult, error) {
	if p.Frame < 0 || p.Frame >= e.frames {
		return nil, fmt.Errorf("%w: prompt on frame %d; the video has frames 0..%d", ErrInvalid, p.Frame, e.frames-1)
	}
	s := e.s
	if p.Object <= 0 {
		s.mu.Lock()
		p.Object = s.nextObj
		s.nextObj++
		s.mu.Unlock()
	}
	// Clicks on the same object and frame add up, so a negative click
	// refines the mask.
	p.Append = p.Mask == nil && p.Box == nil && p.Candidate == nil
	if err := s.promptBudget.check(s.ID); err != nil {
		return nil, err
	}
	// Show the prompted frame while the model works on it.
	e.mu.Lock()
	e.pos, e.playing = p.Frame, false
	e.mu.Unlock()
	e.poke()
	var resp *PromptResult
	err := e.do(ctx, fmt.Sprintf("segmenting object %d on frame %d", p.Object, p.Frame), func(ctx context.Context) error {
		if p.Append {
			e.mu.Lock()
			had := e.prompts[PromptFrame{Object: p.Object, Frame: p.Frame}]
			e.mu.Unlock()
			if err := prompt.CheckAdded(p.Object, p.Frame, had, len(p.Points)); err != nil {
				return err
			}
		}
		res, metas, err := e.applyPrompt(ctx, p)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.applied = append(e.applied, p)
		e.mu.Unlock()
		resp = &PromptResult{Object: p.Object, Frame: res.Frame, Objects: metas, Candidates: s.keepCandidates(p.Object, res)}
		return e.record(EditOp{Kind: opPrompt, Object: p.Object, Prompts: []prompt.Prompt{p}})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// removeObject drops an object from the tracker and its results,
// undoably (undo.go).
func (e *editor) removeObject(ctx context.Context, id int) error {
	return e.change(ctx, opRemove, id)
}

// startTrack queues a tracking pass and returns; its progress shows in
// EditInfo.
func (e *editor) startTrack(dir string) error {
	if e.trk == nil {
		return ErrNoModel
	}
	e.mu.Lock()
	if e.tracking != "" {
		e.mu.Unlock()
		return &kindError{ErrConflict, fmt.Errorf("a %s pass is already running; stop it first", e.tracking)}
	}
	if len(e.prompts) == 0 {
		e.mu.Unlock()
		return &kindError{ErrConflict, errors.New("nothing to track: click an object first")}
	}
	first, last := e.frames, -1
	for p := range e.prompts {
		first, last = min(first, p.Frame), max(last, p.Frame)
	}
	e.mu.Unlock()

	// As `vidseg track`: forward from the earliest prompted frame,
	// backward from the latest, both = forward then backward from the
	// earliest.
	type pass struct {
		start   int
		reverse bool
	}
	var all []pass
	switch dir {
	case "forward":
		all = []pass{{first, false}}
	case "backward":
		all = []pass{{last, true}}
	default:
		all = []pass{{first, false}, {first, true}}
	}
	span := func(p pass) (int, int) {
		if p.reverse {
			return 0, p.start
		}
		return p.start, e.frames - 1
	}
	e.mu.Lock()
	if e.tracking != "" {
		e.mu.Unlock()
		return &kindError{ErrConflict, fmt.Errorf("a %s pass is already running; stop it first", e.tracking)}
	}
	// Nothing changed since the last pass: a range it already tracked
	// is not tracked again.
	var passes []pass
	total := 0
	for _, p := range all {
		if p.reverse && p.start == 0 {
			continue // nothing lies before frame 0
		}
		a, b := span(p)
		fresh := !e.changed
		for f := a; fresh && f <= b; f++ {
			_, ok := e.results[f]
			fresh = ok && !e.stale[f]
		}
		if !fresh {
			passes = append(passes, p)
			total += b - a + 1
		}
	}
	if len(passes) == 0 {
		e.trackErr = ""
		e.mu.Unlock()
		e.poke()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.tracking, e.trackErr, e.cancelTrack = dir, "", cancel
	e.pass, e.passStart, e.follow = &PassProgress{Total: total, Frame: -1}, time.Now(), !e.playing
	e.mu.Unlock()
	go func() {
		defer cancel()
		err := e.do(ctx, "tracking "+dir, func(mctx context.Context) error {
			// Ends with the session (mctx) or on stop (ctx).
			pctx, pcancel := context.WithCancel(mctx)
			defer context.AfterFunc(ctx, pcancel)()
			defer pcancel()
			for _, ps := range passes {
				err := e.trk.Propagate(pctx, tracker.PropagateOptions{Start: ps.start, Reverse: ps.reverse}, func(res *tracker.FrameResult) error {
					metas, _ := e.s.objectMetas(res)
					e.mu.Lock()
					e.results[res.Frame] = metas
					delete(e.stale, res.Frame)
					if e.pass != nil {
						e.pass.Done++
						e.pass.Frame = res.Frame
					}
					if e.follow && !e.playing {
						// The picture follows the pass.
						e.pos = res.Frame
					}
					shown := e.pos == res.Frame
					e.mu.Unlock()
					e.s.modelFrames.Add(1)
					e.s.model.Tick(time.Now(), 0)
					if shown {
						e.poke()
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		e.mu.Lock()
		e.tracking, e.cancelTrack, e.pass, e.follow = "", nil, nil, false
		if err == nil {
			e.changed = false
		}
		if err != nil {
			e.trackErr = err.Error()
			if errors.Is(err, context.Canceled) {
				e.trackErr = "stopped"
			}
		}
		e.mu.Unlock()
		e.poke()
	}()
	return nil
}

func (e *editor) stopTrack() {
	e.mu.Lock()
	if e.cancelTrack != nil {
		e.cancelTrack()
	}
	e.mu.Unlock()
}

func (e *editor) control(req PlayerRequest) error {
	e.mu.Lock()
	switch req.Action {
	case "play":
		if e.pos >= e.frames-1 {
			e.pos = 0 // play again from the start
		}
		e.playing = true
	case "pause":
		e.playing = false
	case "seek":
		if req.Frame < 0 || req.Frame >= e.frames {
			e.mu.Unlock()
			return fmt.Errorf("%w: seek to frame %d; the video has frames 0..%d", ErrInvalid, req.Frame, e.frames-1)
		}
		e.pos, e.playing, e.follow = req.Frame, false, false
	default:
		e.mu.Unlock()
		return fmt.Errorf("%w: player action %q: want play, pause or seek", ErrInvalid, req.Action)
	}
	e.mu.Unlock()
	e.poke()
	return nil
}

// Edit reports whether the session is an edit session (a file opened to
// scrub and track).
func (s *Session) Edit() bool { return s.ed != nil }

func (s *Session) notEdit() error {
	return &kindError{ErrConflict, fmt.Errorf("session %s plays live; open a file with mode \"edit\" to scrub and track it", s.ID)}
}

// Control plays, pauses or seeks an edit session's player.
func (s *Session) Control(req PlayerRequest) error {
	if s.ed == nil {
		return s.notEdit()
	}
	return s.ed.control(req)
}

// Track starts a tracking pass over an edit session's file, "forward"
// from the earliest prompted frame, "backward" from the latest, or
// "both"; its progress shows in Status().Edit.
func (s *Session) Track(direction string) error {
	if s.ed == nil {
		return s.notEdit()
	}
	switch direction {
	case "forward", "backward", "both":
	default:
		return &kindError{ErrInvalid, fmt.Errorf("track: direction %q: want forward, backward or both", direction)}
	}
	return s.ed.startTrack(direction)
}

// StopTrack stops an edit session's running pass, if any.
func (s *Session) StopTrack() error {
	if s.ed == nil {
		return s.notEdit()
	}
	s.ed.stopTrack()
	return nil
}
