// Package session runs the live pipeline of the app, one session per
// video source: it opens a source through the source policy and decodes
// it, runs the video loop (every picture, at the source's pace, to the
// WebRTC broadcasters) and the model loop (the latest frame, when the
// model is free), applies prompts and object removals, runs the file
// editor (seek, tracking passes both ways), raises analytics events and
// publishes them, pauses unwatched sessions and closes idle ones. It knows
// nothing of HTTP: package web serves it, a cluster worker runs its
// cameras with it directly.
package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// ModelHelp tells a user without a model how to get one; the page shows it.
const ModelHelp = "No model is configured, so video plays without tracking. Export one with\n" +
	"  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t\n" +
	"then run\n" +
	"  vidseg serve --model models/sam2.1_hiera_t\n" +
	"or use the bundled test fixture testdata/model/sam2.1_hiera_t_random, which tracks nothing meaningful."

// Errors of the session API; package web maps them to HTTP statuses.
var (
	// ErrNotFound: no such session, object, file or device.
	ErrNotFound = source.ErrNotFound
	// ErrInvalid: the request is wrong (a bad mode, frame or prompt).
	ErrInvalid = source.ErrInvalid
	// ErrNoModel: the server runs without a model.
	ErrNoModel = errors.New("no model configured: " + strings.ReplaceAll(ModelHelp, "\n", " "))
	// ErrEnded: the session has ended.
	ErrEnded = errors.New("session ended")
	// ErrNotReady: the model has not finished a frame yet.
	ErrNotReady = errors.New("the model has not processed a frame yet; try again in a moment")
	// ErrConflict: the session is not in a state to do it (a pass runs,
	// nothing to track yet).
	ErrConflict = errors.New("conflict")
	// ErrTooMany: the session cap is reached.
	ErrTooMany = errors.New("too many sessions")
)

// kindError is err, also matching kind (errors.Is), with err's text.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Config configures a Manager.
type Config struct {
	// NewTracker opens a tracker for a new session; nil means no model is
	// configured and sessions only play video.
	NewTracker func(ctx context.Context, spec Spec) (Tracker, error)
	// NewFileTracker opens the tracker of an edit session (a file to scrub
	// and track): prompts on any frame of src, which has frames frames,
	// and Propagate. Nil: edit sessions play without tracking.
	NewFileTracker func(ctx context.Context, info decode.Info, frames int, src tracker.FrameSource) (FileTracker, error)
	// JournalFile, if set, wraps every edit session's tracker (a journal
	// recording it in a store); a wrapper that is a Restorer brings back
	// a resumed session's prompts and tracked frames.
	JournalFile func(ctx context.Context, spec Spec, t FileTracker) (FileTracker, error)
	// ModelSize is the square input size the tracker reads from
	// video.Frame.Model (1024 for SAM 2); used only with NewTracker.
	ModelSize int
	// Codec is the WebRTC video codec, "vp8" (default) or "h264".
	Codec string
	// Bitrate in bits per second; 0 lets the encoder choose.
	Bitrate int
	// Sources is what may be opened besides uploads (nothing by default).
	Sources source.Policy
	// Cameras are the names of the operator's cameras, reserved: a
	// client's session may not take one as its camera name (OpenCamera
	// reserves the names it opens too).
	Cameras []string
	// MaxSessions caps live sessions (DefaultMaxSessions if 0, none if <0).
	MaxSessions int
	// PauseAfter: a session without viewers stops decoding and tracking
	// after this long (DefaultPauseAfter if 0, never if <0).
	PauseAfter time.Duration
	// IdleTimeout: a session nobody watched or prompted for this long is
	// closed (DefaultIdleTimeout if 0, never if <0).
	IdleTimeout time.Duration
	// PromptTimeout bounds one prompt's model time
	// (DefaultPromptTimeout if 0, none if <0).
	PromptTimeout time.Duration
	// PromptBudget is the model time a session's prompts may take per
	// minute (DefaultPromptBudget if 0, none if <0).
	PromptBudget time.Duration
	// ICE timeouts for viewers (pion defaults when zero).
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// Logger receives session and viewer events (Info); nil discards them.
	Logger *slog.Logger
	// EventSinks receive every session's analytics events (JSON Lines
	// file, webhooks, a cluster's bus); Manager.Events streams them too.
	EventSinks []events.Sink
	// Analytics tunes event detection (Camera is set per session).
	Analytics events.Config
	// Discovery, if on, runs segment-everything on every live session
	// with a model every so often and tracks the new masks as objects.
	Discovery *Discovery
	// Reconnect tunes how live network sources (RTSP, HTTP live streams)
	// are reopened when lost; OnState is set per session.
	Reconnect decode.ReconnectOptions
}

// Manager runs sessions. Close it to stop every one.
type Manager struct {
	cfg Config

	ctx    context.Context
	cancel context.CancelFunc

	sources *source.Resolver
	reaped  chan struct{}

	mu       sync.Mutex
	cameras  map[string]bool // reserved camera names
	sessions map[string]*Session
	opening  int // sessions being opened (reserved slots)
	closed   bool

	hub    *Hub
	thumbs *mediaThumbs // the media gallery's thumbnails
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Codec == "" {
		cfg.Codec = stream.VP8
	}
	if cfg.Codec != stream.VP8 && cfg.Codec != stream.H264 {
		return nil, fmt.Errorf("unknown codec %q (want vp8 or h264)", cfg.Codec)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewTracker != nil && cfg.ModelSize <= 0 {
		return nil, errors.New("Config.ModelSize must be set with NewTracker (1024 for SAM 2)")
	}
	cfg.MaxSessions = orDefault(cfg.MaxSessions, DefaultMaxSessions)
	cfg.PauseAfter = orDefault(cfg.PauseAfter, DefaultPauseAfter)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.PromptTimeout = orDefault(cfg.PromptTimeout, DefaultPromptTimeout)
	cfg.PromptBudget = orDefault(cfg.PromptBudget, DefaultPromptBudget)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := source.NewResolver(ctx, cfg.Sources)
	if err != nil {
		cancel()
		return nil, err
	}
	cams := make(map[string]bool)
	for _, c := range cfg.Cameras {
		cams[c] = true
	}
	m := &Manager{cfg: cfg, ctx: ctx, cancel: cancel, sources: res, sessions: make(map[string]*Session), cameras: cams,
		reaped: make(chan struct{}), hub: newHub(cfg.EventSinks), thumbs: newMediaThumbs()}
	go m.reap()
	return m, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Close stops every session and waits for their pipelines to end.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	sessions := m.sessions
	m.sessions = make(map[string]*Session)
	m.mu.Unlock()
	m.cancel()
	for _, ss := range sessions {
		<-ss.done
	}
	<-m.reaped
	m.hub.closeAll()
	return m.sources.Close()
}

// Model reports whether sessions track (a model is configured).
func (m *Manager) Model() bool { return m.cfg.NewTracker != nil }

// ModelSize is the model's input size for decoders that feed sessions
// (0 without a model: no model input is prepared).
func (m *Manager) ModelSize() int {
	if m.cfg.NewTracker == nil {
		return 0
	}
	return m.cfg.ModelSize
}

// MaxSessions is the session cap (<= 0: none).
func (m *Manager) MaxSessions() int { return m.cfg.MaxSessions }

// Codec is the sessions' WebRTC video codec.
func (m *Manager) Codec() string { return m.cfg.Codec }

// Events is the hub every session's analytics events go through.
func (m *Manager) Events() *Hub { return m.hub }

// PublishEvents hands events tracked elsewhere (a worker of a cluster) to
// the event sinks and to the hub's subscribers, under session.
func (m *Manager) PublishEvents(session string, evs []events.Event) { m.hub.publish(session, evs) }

// List returns the sessions' status, oldest first.
func (m *Manager) List() []Status {
	list := m.all()
	out := make([]Status, len(list))
	for i, ss := range list {
		out[i] = ss.Status()
	}
	slices.SortFunc(out, func(a, b Status) int { return a.Created.Compare(b.Created) })
	return out
}

func (m *Manager) all() []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := make([]*Session, 0, len(m.sessions))
	for _, ss := range m.sessions {
		list = append(list, ss)
	}
	return list
}

// Get returns the session with id.
func (m *Manager) Get(id string) (*Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ss, ok := m.sessions[id]
	return ss, ok
}

// Options are how a session is opened besides its source.
type Options struct {
	// Loop replays a file from the start at its end.
	Loop bool
	// Edit opens a file to scrub and track like the SAM 2 demo (paused,
	// seek, prompts on any frame, tracking passes, downloads); otherwise
	// the model tracks the latest frame as it plays.
	Edit bool
	// Camera names the source in analytics events (default: the session ID).
	Camera string
}

// Open starts a session on src (a media-root file, a /dev/videoN device,
// an http(s):// or rtsp:// URL) under the source policy and the session
// cap.
func (m *Manager) Open(ctx context.Context, src string, o Options) (*Session, error) {
	if err := m.clientCamera(o.Camera); err != nil {
		return nil, err
	}
	return m.openSource(ctx, src, openOptions{loop: o.Loop, edit: o.Edit, camera: o.Camera})
}

// openSource checks src against the source policy and the session cap
// and opens it.
func (m *Manager) openSource(ctx context.Context, src string, oo openOptions) (*Session, error) {
	release, err := m.Reserve()
	if err != nil {
		return nil, err
	}
	defer release()
	resolve := m.sources.Resolve
	if oo.configured {
		// The operator's camera: no client learns anything from how
		// soon its source fails, and a camera down at start is back sooner.
		resolve = m.sources.Reresolve
	}
	in, err := resolve(ctx, src)
	if err != nil {
		return nil, err
	}
	oo.src = src
	return m.open(ctx, in, oo)
}

// Resume starts a looping session on the file src for the stored session
// id: Config.NewTracker sees id as Spec.ResumeID.
func (m *Manager) Resume(ctx context.Context, id, src string) (*Session, error) {
	return m.openSource(ctx, src, openOptions{loop: true, resumeID: id})
}

// ResumeEdit reopens the file src as an edit session for the stored
// session id: Config.JournalFile sees id as Spec.ResumeID and brings back
// its prompts and tracked frames.
func (m *Manager) ResumeEdit(ctx context.Context, id, src string) (*Session, error) {
	return m.openSource(ctx, src, openOptions{edit: true, resumeID: id})
}

// Upload is a file a client sent, stored by the server.
type Upload struct {
	Path    string // where it is stored
	Name    string // the client's name for it
	Edit    bool   // open it to scrub and track (Options.Edit)
	Cleanup func() // removes the stored file; called when the session ends or cannot open
}

// OpenUpload starts a looping session on an upload. The caller holds a
// slot (Reserve), taken once the upload is stored: a slow upload holds
// no session slot.
func (m *Manager) OpenUpload(ctx context.Context, up Upload) (*Session, error) {
	in, err := source.Upload(up.Path, up.Name)
	if err != nil {
		if up.Cleanup != nil {
			up.Cleanup()
		}
		return nil, err
	}
	return m.open(ctx, in, openOptions{loop: true, edit: up.Edit, name: up.Name, display: "upload:" + up.Name, cleanup: up.Cleanup})
}

// FrameSource is what a session reads: a *decode.Decoder, a
// *decode.Reconnecting for a live network source, or frames pushed by a
// publisher (WHIP).
type FrameSource interface {
	Next(ctx context.Context) (*video.Frame, error)
	Close() error
}

// Stream describes a live source that is not opened through the policy:
// a WebRTC publisher's decoded pictures.
type Stream struct {
	ID     string      // the session's ID (NewID), chosen by the caller
	Name   string      // names the source in the session info ("whip")
	Camera string      // names it in analytics events (default: ID)
	Source FrameSource // closed with the session, or on failure
	Info   decode.Info
}

// OpenStream starts an unattended live session (never paused or reaped
// for idleness) on st.Source, under the session cap. It closes st.Source
// on failure.
func (m *Manager) OpenStream(ctx context.Context, st Stream) (*Session, error) {
	if err := m.clientCamera(st.Camera); err != nil {
		_ = st.Source.Close()
		return nil, err
	}
	release, err := m.Reserve()
	if err != nil {
		_ = st.Source.Close()
		return nil, err
	}
	defer release()
	return m.start(ctx, st.ID, st.Name, "", nil, st.Source, st.Info, openOptions{camera: st.Camera, unattended: true})
}

// openOptions are how a session is opened besides its source.
type openOptions struct {
	loop    bool
	edit    bool   // scrub-and-track mode (files only)
	name    string // what the user calls the source (an upload's file name)
	display string // Source in the session info, if not the source's name
	cleanup func() // removes an uploaded file
	camera  string // names the source in analytics events (default: the session ID)
	geo     *events.Geometry
	src     string // what the client named, to reopen a lost live source
	// unattended sessions run without viewers (configured cameras, WHIP
	// publishers): never paused or reaped for idleness.
	unattended bool
	resumeID   string // the stored session being resumed (Resume, OpenCamera)
	configured bool   // a camera the operator configured (OpenCamera)
}

// open starts a session on a resolved source; the caller holds a slot.
func (m *Manager) open(ctx context.Context, in *source.Source, oo openOptions) (ss *Session, err error) {
	cleanup := oo.cleanup
	defer func() {
		if err != nil && cleanup != nil {
			cleanup()
		}
	}()
	opts := in.Opts
	opts.Realtime = true
	opts.Loop = in.File && oo.loop
	if m.cfg.NewTracker != nil && !oo.edit {
		// The model takes only the newest frame when it is free: the
		// others are never scaled to its input (decode.Options.LazyModel).
		opts.ModelSize, opts.LazyModel = m.cfg.ModelSize, true
	}
	if oo.edit {
		if !in.File {
			return nil, fmt.Errorf("%w: %s is a live source; mode \"edit\" needs a file", ErrInvalid, in.Name)
		}
		// The player seeks and paces itself.
		opts = decode.Options{Formats: opts.Formats, Protocols: opts.Protocols, Input: opts.Input}
	}
	dec, err := decode.Open(ctx, in.Target, opts)
	if err != nil {
		if c, ok := opts.Input.(io.Closer); ok {
			_ = c.Close()
		}
		if in.ConnErr != nil && in.ConnErr() != nil {
			err = in.ConnErr()
		} else if errors.Is(err, decode.ErrUnreachable) && opts.Input == nil {
			// FFmpeg's own words ("Connection refused") would tell what
			// listens where; say only that no video came.
			err = fmt.Errorf("%w: no video from %s", decode.ErrUnreachable, in.Name)
		}
		return nil, fmt.Errorf("open %s: %w", in.Name, err)
	}
	info := dec.Info()
	if oo.edit && info.Live {
		_ = dec.Close()
		return nil, fmt.Errorf("%w: %s is a live source; mode \"edit\" needs a file", ErrInvalid, in.Name)
	}
	var src FrameSource = dec
	if info.Live && !in.File && strings.Contains(oo.src, "://") {
		// A live URL reopens through the same policy checks when lost.
		ro := m.cfg.Reconnect
		raw := oo.src
		ro.Reopen = func(ctx context.Context) (*decode.Decoder, error) {
			in, err := m.sources.Reresolve(ctx, raw)
			if err != nil {
				return nil, err
			}
			o := in.Opts
			o.Realtime, o.ModelSize, o.LazyModel, o.ProbeDuration = true, opts.ModelSize, opts.LazyModel, 100*time.Millisecond
			d, err := decode.Open(ctx, in.Target, o)
			if err != nil {
				if c, ok := o.Input.(io.Closer); ok {
					_ = c.Close()
				}
				if in.ConnErr != nil && in.ConnErr() != nil {
					err = in.ConnErr()
				}
				return nil, err
			}
			return d, nil
		}
		src = decode.NewReconnecting(dec, in.Name, opts, ro)
	}
	id := NewID()
	if oo.resumeID != "" {
		// A resumed session keeps the ID it is stored under: one ID in the
		// server and the store.
		id = oo.resumeID
	}
	return m.start(ctx, id, in.Name, in.Path, dec, src, info, oo)
}

// start runs a session on an open source: dec, a file or device decoder,
// or nil; src, what the session reads (dec itself, or a source that wraps
// or replaces it). It closes src on failure.
func (m *Manager) start(ctx context.Context, id, srcName, path string, dec *decode.Decoder, src FrameSource, info decode.Info, oo openOptions) (ss *Session, err error) {
	if _, dup := m.Get(id); dup {
		_ = src.Close()
		return nil, fmt.Errorf("%w: session %s is already open", ErrInvalid, id)
	}
	if err := checkSize(info.Width, info.Height); err != nil {
		_ = src.Close()
		return nil, err
	}
	name, display := oo.name, oo.display
	if name == "" {
		name = srcName
	}
	if display == "" {
		display = srcName
	}
	ss = &Session{
		ID: id, Source: display, path: path, Name: name, Info: info, Created: time.Now(), dec: dec, src: src, cleanup: oo.cleanup,
		done: make(chan struct{}), ended: make(chan struct{}), frames: stream.NewLatest[timedFrame](), prompts: make(chan promptRequest),
		unattended: oo.unattended, configured: oo.configured,
		state: "playing", objects: make(map[int]*objectState), nextObj: 1, tracked: -1,
		Camera: oo.camera, hub: m.hub, log: m.cfg.Logger,
		promptBudget: newPromptBudget(m.cfg.PromptBudget, m.cfg.PromptTimeout),
	}
	if ss.Camera == "" {
		ss.Camera = ss.ID
	}
	if !oo.edit {
		ss.disc = newDiscoverer(m.cfg.Discovery)
	}
	if r, ok := src.(*decode.Reconnecting); ok {
		ss.watchReconnects(r)
	}
	fps := info.FPS
	if fps <= 0 || fps > 240 {
		fps = 30
	}
	ss.encFPS = fps
	encOpts := encode.Options{
		Codec: m.cfg.Codec, Width: info.Width, Height: info.Height, FPS: fps, Bitrate: m.cfg.Bitrate,
		KeyframeInterval: int(fps * 2),
	}
	ss.enc, err = stream.NewVideoEncoder(encOpts)
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("session encoder for %dx%d: %w", info.Width, info.Height, err)
	}
	ss.cenc, err = stream.NewVideoEncoder(encOpts)
	if err != nil {
		_ = ss.enc.Close()
		_ = src.Close()
		return nil, fmt.Errorf("session encoder for %dx%d: %w", info.Width, info.Height, err)
	}
	closeAll := func() {
		if ss.b != nil {
			_ = ss.b.Close()
		}
		if ss.clean != nil {
			_ = ss.clean.Close()
		}
		_ = ss.enc.Close()
		_ = ss.cenc.Close()
		_ = src.Close()
	}
	for _, p := range []struct {
		b   **stream.Broadcaster
		enc *stream.VideoEncoder
	}{{&ss.b, ss.enc}, {&ss.clean, ss.cenc}} {
		*p.b, err = stream.NewBroadcaster(stream.Options{
			Codec: m.cfg.Codec, Encoder: p.enc,
			ICEDisconnectedTimeout: m.cfg.ICEDisconnectedTimeout, ICEFailedTimeout: m.cfg.ICEFailedTimeout,
			Logger: m.cfg.Logger,
		})
		if err != nil {
			closeAll()
			return nil, err
		}
	}
	if oo.edit && dec != nil {
		ss.ed, err = m.newEditor(ctx, ss, m.spec(id, path, info, oo))
		if err != nil {
			closeAll()
			return nil, err
		}
	} else if m.cfg.NewTracker != nil {
		ss.trk, err = m.cfg.NewTracker(ctx, m.spec(id, path, info, oo))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open tracker: %w", err)
		}
	}
	if err := ss.initAnalytics(m.cfg.Analytics, oo.geo); err != nil {
		_ = CloseTracker(ss.trk)
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = CloseTracker(ss.trk)
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, errors.New("server is shutting down")
	}
	if _, dup := m.sessions[ss.ID]; dup {
		m.mu.Unlock()
		_ = CloseTracker(ss.trk)
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, fmt.Errorf("%w: session %s is already open", ErrInvalid, ss.ID)
	}
	m.sessions[ss.ID] = ss
	m.mu.Unlock()
	ss.touch()
	sctx, cancel := context.WithCancel(m.ctx)
	ss.cancel = cancel
	go ss.run(sctx, m.cfg.Logger, m.cfg.PauseAfter)
	m.cfg.Logger.Info("session opened", "session", ss.ID, "source", name, "width", info.Width, "height", info.Height, "fps", info.FPS, "mode", ss.Status().Mode)
	return ss, nil
}

// clientCamera refuses a client's camera name that belongs to one of
// the operator's cameras: their events would share its numbering.
func (m *Manager) clientCamera(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cameras[name] {
		return &kindError{ErrConflict, fmt.Errorf("camera name %q belongs to a camera of this server; choose another", name)}
	}
	return nil
}

// reserveCamera keeps name for the operator's camera.
func (m *Manager) reserveCamera(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cameras[name] = true
}

// Video sizes a session streams: 8K UHD's pixels, 8192 a side (the
// encoders take 16384, but each picture is composited in RGB, three times
// over; a header claiming a huge size must be refused, not a 500).
const (
	maxSide   = 8192
	maxPixels = 7680 * 4320
)

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide || w*h > maxPixels {
		return &kindError{ErrInvalid, fmt.Errorf("video size %dx%d: sessions stream at most %d pixels a side and %d in all (8K UHD)", w, h, maxSide, maxPixels)}
	}
	return nil
}

// NewID returns a new random session ID.
func NewID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return fmt.Sprintf("%x", b[:])
}
