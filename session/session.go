package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/cmem"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// Tracker is what a session needs from the SAM 2 / SAMURAI tracker
// (*tracker.Tracker). Calls come from one goroutine at a time.
type Tracker interface {
	Track(ctx context.Context, f *video.Frame) (*tracker.FrameResult, error)
	Prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, error)
	RemoveObject(id int) error
}

// Session is one video source being decoded, tracked and streamed.
type Session struct {
	ID     string
	Source string
	// Name is what the user knows the source as: an upload's file name,
	// otherwise Source.
	Name    string
	path    string // what is decoded (Source may be a name for the user)
	Info    decode.Info
	Created time.Time
	// Camera names the source in analytics events (the ID when not given).
	Camera string

	dec *decode.Decoder // the file or device decoder (nil for WHIP)
	src FrameSource     // what videoLoop reads: dec, or a source that wraps or replaces it
	// unattended: runs without viewers (a configured camera, a WHIP
	// publisher), so it is never paused or reaped for idleness.
	unattended bool
	configured bool // a camera the operator configured
	enc        *stream.VideoEncoder
	b          *stream.Broadcaster // burned-in masks, for WHEP players without a page
	clean      *stream.Broadcaster // no masks: the page draws them
	cenc       *stream.VideoEncoder
	burnBuf    []byte // composited picture; owned by the goroutine that publishes
	encFPS     float64
	// lastTick is the last picture's PTS in encoder ticks (1/encFPS);
	// owned by the goroutine that publishes.
	lastTick int64
	ticked   bool
	trk      Tracker
	ed       *editor // file sessions opened to scrub and track (mode "edit")
	cleanup  func()  // removes an uploaded file

	cancel context.CancelFunc
	done   chan struct{}
	ended  chan struct{} // closed when the source ends (state says how)

	frames  *stream.Latest[timedFrame]
	prompts chan promptRequest

	send, model, modelLag stream.Meter
	skipped               atomic.Int64 // pictures dropped to keep the source pace
	active                atomic.Int64 // unix ns of the last viewer or prompt
	modelFrames           atomic.Int64 // frames the model finished
	queue                 atomic.Int64 // prompts and tracking passes waiting for or running on the model
	condFrames            atomic.Int64 // most prompted frames an object keeps in memory

	mu      sync.Mutex
	overlay *result // masks of the latest model result
	state   string  // "playing", "ended", or an error
	objects map[int]*objectState
	cands   map[int]candidateSet // each object's last click's candidates
	nextObj int
	tracked int // index of the last frame the model finished; -1 none

	// Analytics: the detector sees every model result; analyticsMu keeps
	// journal writes in the order of the events they cover.
	analyticsMu sync.Mutex
	det         *events.Detector
	hub         *Hub
	lastFrame   events.Frame
	eventCount  atomic.Int64
	log         *slog.Logger

	// Metrics (see metrics.go).
	modelDropped  atomic.Int64 // frames replaced before the model took them
	reconnects    atomic.Int64
	promptLatency latencyHistogram
	promptBudget  *promptBudget // model time of prompts: bounded, counted

	disc          *discoverer // live discovery (nil: off); model goroutine only
	discoveryRuns atomic.Int64
	discovered    atomic.Int64
}

type timedFrame struct {
	f         *video.Frame
	decodedAt time.Time
}

// result is one model result ready to draw and send.
type result struct {
	frame     int
	decodedAt time.Time
	masks     []overlay.ObjectMask
	objects   []stream.ObjectMeta
	sent      atomic.Bool // first sent; set by the video goroutine
}

// objectState remembers an object's clicks on its last prompted frame so a
// correction adds to them instead of replacing them.
type objectState struct {
	frame  int
	points []prompt.Point
	box    *mask.Box
}

// promptRequest asks the model goroutine, the tracker's only user, to add
// a prompt or, when remove > 0, to drop that object, or, when run is set,
// to run it (segment everything).
type promptRequest struct {
	p      prompt.Prompt
	remove int
	run    func(ctx context.Context) error
	reply  chan promptReply
}

type promptReply struct {
	res    *tracker.FrameResult
	err    error
	object int // the prompted object's id (new objects get theirs here)
}

// Status is a session's state, as the API shows it.
type Status struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Name       string    `json:"name"`
	Mode       string    `json:"mode"` // "live" (latest frame) or "edit" (scrub and track a file)
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	FPS        float64   `json:"fps"`
	Live       bool      `json:"live"`
	Codec      string    `json:"codec"`
	State      string    `json:"state"`
	Viewers    int       `json:"viewers"`
	Objects    []int     `json:"objects"`
	Model      bool      `json:"model"`
	ModelFPS   float64   `json:"modelFps"`
	SourceFPS  float64   `json:"sourceFps"`
	LatencyMs  float64   `json:"latencyMs"`
	Created    time.Time `json:"created"`
	Tracked    int       `json:"trackedFrame"`
	FramesSent int64     `json:"framesSent"`
	// FramesSkipped counts pictures dropped because compositing and
	// encoding fell behind the source.
	FramesSkipped int64 `json:"framesSkipped"`
	// ModelFrames counts frames the model finished; the others it never saw.
	ModelFrames int64 `json:"modelFrames"`
	// Queue counts prompts and tracking passes waiting for or running on
	// the model; Busy says what it does now.
	Queue int64  `json:"queue"`
	Busy  string `json:"busy,omitempty"`
	// Edit is the player and tracking state of an edit session.
	Edit *EditInfo `json:"edit,omitempty"`
	// CondFrames is the most prompted frames any object keeps in memory
	// (bounded on streams by the tracker's MaxCondFrames).
	CondFrames int64 `json:"condFrames"`
	// Camera names the source in analytics events; Events counts the
	// events raised.
	Camera string `json:"camera"`
	Events int64  `json:"events"`
	// PromptSeconds is the model time the session's prompts took, counted
	// against its budget (Config.PromptBudget).
	PromptSeconds float64 `json:"promptSeconds"`
	// DiscoveryRuns and Discovered count live discovery's runs and the
	// objects it added (Config.Discovery).
	DiscoveryRuns int64 `json:"discoveryRuns,omitempty"`
	Discovered    int64 `json:"discovered,omitempty"`
}

// Status reports the session's state now.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := make([]int, 0, len(s.objects))
	for id := range s.objects {
		objs = append(objs, id)
	}
	slices.Sort(objs)
	st, cst := s.b.Stats(), s.clean.Stats()
	si := Status{
		ID: s.ID, Source: s.Source, Name: s.Name, Mode: "live", Width: s.Info.Width, Height: s.Info.Height, FPS: s.Info.FPS,
		Live: s.Info.Live, Codec: s.b.Codec(), State: s.state, Viewers: st.Viewers + cst.Viewers, Objects: objs,
		Model: s.trk != nil, ModelFPS: round1(s.model.Rate()), SourceFPS: round1(s.send.Rate()),
		LatencyMs: ms(s.send.Latency()), Created: s.Created, Tracked: s.tracked, FramesSent: max(st.Frames, cst.Frames),
		FramesSkipped: s.skipped.Load(), ModelFrames: s.modelFrames.Load(), Queue: s.queue.Load(), CondFrames: s.condFrames.Load(),
		Camera: s.Camera, Events: s.eventCount.Load(), PromptSeconds: math.Round(s.promptBudget.Used().Seconds()*1000) / 1000,
		DiscoveryRuns: s.discoveryRuns.Load(), Discovered: s.discovered.Load(),
	}
	if s.ed != nil {
		si.Mode, si.Model = "edit", s.ed.trk != nil
		si.Edit, si.Busy = s.ed.info()
		if si.State == "playing" && !si.Edit.Playing {
			si.State = "paused"
		}
	} else if si.Queue > 0 {
		si.Busy = "segmenting"
	}
	return si
}

// run owns the decoder and encoder: it closes them when ctx ends.
func (s *Session) run(ctx context.Context, log *slog.Logger, pauseAfter time.Duration) {
	defer close(s.done)
	var wg sync.WaitGroup
	if s.trk != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.modelLoop(ctx, log) }()
	}
	var err error
	if s.ed != nil {
		err = s.ed.run(ctx, log)
	} else {
		err = s.videoLoop(ctx, pauseAfter)
	}
	s.mu.Lock()
	switch {
	case errors.Is(err, io.EOF):
		s.state = "ended"
	case errors.Is(err, decode.ErrSourceLost) && ctx.Err() == nil:
		s.state = "lost: " + err.Error()
		log.Info("session source lost", "session", s.ID, "err", err)
	case ctx.Err() == nil: // videoLoop returns only errors
		s.state = "error: " + err.Error()
		log.Info("session failed", "session", s.ID, "err", err)
	}
	s.mu.Unlock()
	close(s.ended)
	// The model may still be busy with the last frame; a finished source
	// keeps its model goroutine until the session is deleted so prompts
	// still get answers.
	<-ctx.Done()
	wg.Wait()
	s.frames.Drain(dropModelCopy)
	_ = CloseTracker(s.trk)
	if s.ed != nil {
		s.ed.close()
	}
	_ = s.b.Close()
	_ = s.clean.Close()
	_ = s.enc.Close()
	_ = s.cenc.Close()
	_ = s.src.Close() // closes dec too
	if s.cleanup != nil {
		s.cleanup()
	}
	// glibc keeps what the decoder, encoders and model freed in per-thread
	// arenas: 200-300 MB after eight sessions on two cores, held until
	// the next sessions reuse it. Hand it back now. Each session's frees
	// precede its own trim, so the last session to end leaves none kept.
	cmem.Trim()
}

// videoLoop shows every decoded frame at the source pace with the newest
// masks; the model sees only the latest frame when it is free. A file
// waits on its first frame for a viewer (a configured camera does not).
func (s *Session) videoLoop(ctx context.Context, pauseAfter time.Duration) error {
	pacer := stream.NewPacer(s.Info.FPS)
	first := !s.Info.Live && !s.unattended // a configured camera runs without viewers
	for {
		f, err := s.src.Next(ctx)
		if err != nil {
			return err
		}
		decodedAt := time.Now()
		if s.trk == nil {
			f.DropModel() // no model to take it
		} else if s.frames.PutDrop(timedFrame{f: f, decodedAt: decodedAt}, dropModelCopy) {
			s.modelDropped.Add(1)
		}
		if first {
			first = false
			if err := s.waitViewer(ctx); err != nil {
				return err
			}
			if s.dec != nil {
				s.dec.RestartClock()
			}
			decodedAt = time.Now()
		}
		if pacer.Late(f.PTS, decodedAt) {
			// Encoding cannot keep up: drop this picture so the video keeps
			// the source's pace instead of falling behind.
			s.skipped.Add(1)
			continue
		}
		s.mu.Lock()
		ov := s.overlay
		s.mu.Unlock()
		if s.viewers() == 0 {
			// Nobody watches: after a grace stop decoding and tracking.
			if s.pauseWhileUnwatched(ctx, pauseAfter) {
				pacer = stream.NewPacer(s.Info.FPS)
			}
			continue
		}
		s.touch()
		var masks []overlay.ObjectMask
		if ov != nil {
			masks = ov.masks
		}
		meta := func(sent time.Time) stream.FrameMeta {
			s.send.Tick(sent, sent.Sub(decodedAt))
			if ov != nil && !ov.sent.Swap(true) {
				s.modelLag.Tick(sent, sent.Sub(ov.decodedAt))
			}
			m := stream.FrameMeta{Frame: f.Index, MaskFrame: -1, SourceFPS: round1(s.send.Rate()), ModelFPS: round1(s.model.Rate()),
				LatencyMs: ms(sent.Sub(decodedAt)), ModelLatencyMs: ms(s.modelLag.Latency()),
				DecodedAt: decodedAt.UnixMilli(), SentAt: sent.UnixMilli()}
			if ov != nil {
				m.Objects, m.MaskFrame = ov.objects, ov.frame
			}
			return m
		}
		if _, err := s.publish(f, f.PTS, meta, func() []overlay.ObjectMask { return masks }); err != nil {
			return err
		}
	}
}

// dropModelCopy releases the decoded picture a frame the model did not take
// kept for its model input (decode.Options.LazyModel).
func dropModelCopy(tf timedFrame) { tf.f.DropModel() }

// modelLoop runs the tracker on the newest frame and answers prompts
// between frames (the tracker is not safe for concurrent use).
func (s *Session) modelLoop(ctx context.Context, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-s.prompts:
			if req.remove > 0 {
				req.reply <- promptReply{err: s.removeObject(req.remove)}
				continue
			}
			if req.run != nil {
				req.reply <- promptReply{err: req.run(ctx)}
				continue
			}
			res, obj, err := s.prompt(ctx, req.p)
			req.reply <- promptReply{res, err, obj}
		case tf := <-s.frames.C():
			res, err := s.trk.Track(ctx, tf.f)
			tf.f.DropModel() // made (or not) by Track: release the picture
			if err != nil {
				if ctx.Err() == nil {
					log.Info("track frame failed", "session", s.ID, "frame", tf.f.Index, "err", err)
				}
				continue
			}
			now := time.Now()
			s.modelFrames.Add(1)
			s.model.Tick(now, now.Sub(tf.decodedAt))
			s.setOverlay(res, tf.decodedAt)
			s.noteCondFrames() // prompts become conditioning frames here
			s.analyze(res, events.Frame{Index: tf.f.Index, PTS: tf.f.PTS, Wall: tf.decodedAt})
			if s.disc != nil {
				s.discover(ctx, res, now)
			}
		}
	}
}

func (s *Session) prompt(ctx context.Context, p prompt.Prompt) (*tracker.FrameResult, int, error) {
	s.mu.Lock()
	p.Frame = s.tracked
	if p.Object <= 0 {
		// A new object takes its id only once its prompt is accepted, so a
		// refused prompt (no frame yet, bad click) wastes none.
		p.Object = s.nextObj
	}
	if st := s.objects[p.Object]; st != nil && st.frame == p.Frame {
		// A correction on the same frame keeps the earlier clicks, up to
		// the limit per object and frame.
		if p.Mask == nil {
			if err := prompt.CheckAdded(p.Object, p.Frame, len(st.points), len(p.Points)); err != nil {
				s.mu.Unlock()
				return nil, 0, err
			}
			p.Points = append(append([]prompt.Point(nil), st.points...), p.Points...)
			if p.Box == nil {
				p.Box = st.box
			}
		}
	}
	s.mu.Unlock()
	if p.Frame < 0 {
		return nil, 0, ErrNotReady
	}
	res, err := s.modelPrompt(ctx, func(ctx context.Context) (*tracker.FrameResult, error) { return s.trk.Prompt(ctx, p) })
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	s.objects[p.Object] = &objectState{frame: p.Frame, points: p.Points, box: p.Box}
	if p.Object >= s.nextObj {
		s.nextObj = p.Object + 1
	}
	s.mu.Unlock()
	s.setOverlay(res, time.Now())
	s.noteCondFrames()
	return res, p.Object, nil
}

// setOverlay turns a model result into the overlay's masks and metadata.
func (s *Session) setOverlay(res *tracker.FrameResult, decodedAt time.Time) {
	ov := &result{frame: res.Frame, decodedAt: decodedAt}
	ov.objects, ov.masks = s.objectMetas(res)
	s.mu.Lock()
	if res.Frame > s.tracked {
		s.tracked = res.Frame
	}
	for _, o := range res.Objects {
		// Objects the tracker knows but the session does not come from a
		// journal replay: register them so new objects get fresh ids.
		if s.objects[o.Object] == nil {
			s.objects[o.Object] = &objectState{frame: -1}
		}
		s.nextObj = max(s.nextObj, o.Object+1)
	}
	s.overlay = ov
	s.mu.Unlock()
}

// Prompt sends a click or box to the model goroutine and waits for the
// result on the model's latest frame. Object 0 starts a new object.
func (s *Session) Prompt(ctx context.Context, p prompt.Prompt) (int, *tracker.FrameResult, error) {
	if s.trk == nil {
		return 0, nil, ErrNoModel
	}
	p.Object = max(p.Object, 0) // a new object gets its id from the model goroutine
	if err := p.Check(s.Info.Width, s.Info.Height); err != nil {
		return 0, nil, err
	}
	if err := s.promptBudget.check(s.ID); err != nil {
		return 0, nil, err
	}
	s.queue.Add(1)
	defer s.queue.Add(-1)
	s.touch()
	if u, ok := s.trk.(urgent); ok {
		// From now until the answer, this session's model calls (the
		// frame it may be tracking, then the prompt) go first.
		defer u.Urgent()()
	}
	req := promptRequest{p: p, reply: make(chan promptReply, 1)}
	start := time.Now()
	select {
	case s.prompts <- req:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-s.done:
		return 0, nil, ErrEnded
	}
	select {
	case r := <-req.reply:
		if r.err == nil {
			s.promptLatency.Observe(time.Since(start).Seconds())
		}
		return r.object, r.res, r.err
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// Model reports whether the session tracks (it has a tracker).
func (s *Session) Model() bool { return s.trk != nil || (s.ed != nil && s.ed.trk != nil) }

// PromptResult answers a prompt with the object id and its first result.
type PromptResult struct {
	Object  int                 `json:"object"`
	Frame   int                 `json:"frame"`
	Objects []stream.ObjectMeta `json:"objects"`
	// Candidates are every mask the decoder returned for a click or box
	// (none for a mask prompt), the tracker's choice marked; PickCandidate
	// keeps another.
	Candidates []Candidate `json:"candidates,omitempty"`
}

// Apply checks a client's prompt and applies it: on frame (required)
// in an edit session, on the model's latest frame in a live one. Object
// 0 starts a new object; coordinates are source-frame pixels; a mask
// stands alone, without points or box.
func (s *Session) Apply(ctx context.Context, p prompt.Prompt, frame *int) (*PromptResult, error) {
	if !s.Model() {
		return nil, ErrNoModel
	}
	if err := p.Check(s.Info.Width, s.Info.Height); err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	if p.Object > 0 {
		s.mu.Lock()
		_, known := s.objects[p.Object]
		s.mu.Unlock()
		if !known {
			return nil, &kindError{ErrNotFound, fmt.Errorf("unknown object %d in session %s (use object 0 to start one)", p.Object, s.ID)}
		}
	}
	if p.Empty() {
		return nil, &kindError{ErrInvalid, errors.New("prompt: no points, box or mask")}
	}
	if p.Candidate != nil && p.Object <= 0 {
		return nil, &kindError{ErrInvalid, fmt.Errorf("prompt: candidate %d: name the object whose click it answers", *p.Candidate)}
	}
	if s.ed != nil {
		if frame == nil {
			return nil, &kindError{ErrInvalid, errors.New("prompt: an edit session needs \"frame\", the frame the prompt is on")}
		}
		p.Frame = *frame
		return s.ed.prompt(ctx, p)
	}
	if p.Candidate != nil {
		return s.pickLive(ctx, p.Object, *p.Candidate)
	}
	obj, res, err := s.Prompt(ctx, p)
	if err != nil {
		return nil, err
	}
	resp := &PromptResult{Object: obj, Frame: res.Frame, Candidates: s.keepCandidates(obj, res)}
	s.mu.Lock()
	if ov := s.overlay; ov != nil {
		resp.Objects = ov.objects
	}
	s.mu.Unlock()
	return resp, nil
}

// RemoveObject drops an object from the tracker and the overlay (of an
// edit session: and from its tracked frames).
func (s *Session) RemoveObject(ctx context.Context, id int) error {
	if s.ed != nil {
		return s.ed.removeObject(ctx, id)
	}
	s.mu.Lock()
	_, ok := s.objects[id]
	s.mu.Unlock()
	if !ok || s.trk == nil {
		return fmt.Errorf("%w: no object %d in session %s", ErrNotFound, id, s.ID)
	}
	r, err := s.ask(ctx, promptRequest{remove: id})
	if err != nil {
		return err
	}
	return r.err
}

// ask hands req to the model goroutine and waits for its reply.
func (s *Session) ask(ctx context.Context, req promptRequest) (promptReply, error) {
	req.reply = make(chan promptReply, 1)
	select {
	case s.prompts <- req:
	case <-ctx.Done():
		return promptReply{}, ctx.Err()
	case <-s.done:
		return promptReply{}, ErrEnded
	}
	select {
	case r := <-req.reply:
		return r, nil
	case <-ctx.Done():
		return promptReply{}, ctx.Err()
	}
}

func (s *Session) removeObject(id int) error {
	if err := s.trk.RemoveObject(id); err != nil {
		return err
	}
	s.forget(id)
	s.dropCandidates(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, id)
	if ov := s.overlay; ov != nil {
		// Drop it from the overlay now rather than at the next model result.
		next := &result{frame: ov.frame, decodedAt: ov.decodedAt}
		next.sent.Store(ov.sent.Load())
		for _, m := range ov.masks {
			if m.ID != id {
				next.masks = append(next.masks, m)
			}
		}
		for _, o := range ov.objects {
			if o.ID != id {
				next.objects = append(next.objects, o)
			}
		}
		s.overlay = next
	}
	return nil
}

func finite(v float32) float32 {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return v
}

func ms(d time.Duration) float64 { return math.Round(d.Seconds()*10000) / 10 }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// CloseTracker closes t when it can be closed (tracker.Tracker.Close
// releases the image features it holds): wrappers of a Tracker forward
// their Close through it.
func CloseTracker(t any) error {
	if c, ok := t.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
