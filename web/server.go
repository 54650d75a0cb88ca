// Package web serves the click-to-track app: an embedded single-page UI and
// a JSON API that creates sessions from uploads, server files, HTTP/RTSP
// URLs or V4L2 webcams, streams each session's overlay over WebRTC (WHEP)
// and takes point and box prompts.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
)

//go:embed static
var staticFiles embed.FS

// ModelHelp tells a user without a model how to get one; the page shows it.
const ModelHelp = "No model is configured, so video plays without tracking. Export one with\n" +
	"  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t\n" +
	"then run\n" +
	"  vidseg serve --model models/sam2.1_hiera_t\n" +
	"or use the bundled test fixture testdata/model/sam2.1_hiera_t_random, which tracks nothing meaningful."

// DefaultUploadLimit is the largest upload accepted when Config.UploadLimit is 0.
const DefaultUploadLimit = 2 << 30

// Config configures a Server.
type Config struct {
	// NewTracker opens a tracker for a new session; nil means no model is
	// configured and sessions only play video.
	NewTracker func(ctx context.Context, spec SessionSpec) (Tracker, error)
	// NewFileTracker opens the tracker of an edit session (a file to scrub
	// and track): prompts on any frame of src, which has frames frames,
	// and Propagate. Nil: edit sessions play without tracking.
	NewFileTracker func(ctx context.Context, info decode.Info, frames int, src tracker.FrameSource) (FileTracker, error)
	// ModelSize is the square input size the tracker reads from
	// video.Frame.Model (1024 for SAM 2); used only with NewTracker.
	ModelSize int
	// ModelName is shown on the page.
	ModelName string
	// Codec is the WebRTC video codec, "vp8" (default) or "h264".
	Codec string
	// Bitrate in bits per second; 0 lets the encoder choose.
	Bitrate int
	// UploadLimit caps uploaded files in bytes (DefaultUploadLimit if 0).
	UploadLimit int64
	// UploadDir holds uploads while their session lives (os.TempDir() if
	// ""); a server keeps them in its own data directory.
	UploadDir string
	// Sources is what clients may open besides uploads (nothing by default).
	Sources SourcePolicy
	// Token, when set, is required on every request (page, API, WHEP).
	// Without it only loopback Host names are answered.
	Token string
	// AllowOrigins are the web origins ("https://app.example") allowed to
	// call the API and WHEP from their pages (CORS).
	AllowOrigins []string
	// MaxSessions caps live sessions (DefaultMaxSessions if 0, none if <0).
	MaxSessions int
	// PauseAfter: a session without viewers stops decoding and tracking
	// after this long (DefaultPauseAfter if 0, never if <0).
	PauseAfter time.Duration
	// IdleTimeout: a session nobody watched or prompted for this long is
	// closed (DefaultIdleTimeout if 0, never if <0).
	IdleTimeout time.Duration
	// ICE timeouts for viewers (pion defaults when zero).
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// Logger receives session and viewer events (Info); nil discards them.
	Logger *slog.Logger
	// EventSinks receive every session's analytics events (JSON Lines
	// file, webhooks); /api/events streams them too.
	EventSinks []events.Sink
	// Analytics tunes event detection (Camera is set per session).
	Analytics events.Config
	// Reconnect tunes how live network sources (RTSP, HTTP live streams)
	// are reopened when lost; OnState is set per session.
	Reconnect decode.ReconnectOptions
}

// Server is the HTTP handler of the app. Close it to stop every session.
type Server struct {
	cfg Config
	mux *http.ServeMux

	ctx    context.Context
	cancel context.CancelFunc

	root     *os.Root // Sources.MediaRoot, opened once
	rootPath string   // its absolute, symlink-free path
	fetch    *http.Client
	reaped   chan struct{}

	mu       sync.Mutex
	sessions map[string]*Session
	opening  int // sessions being opened (reserved slots)
	closed   bool

	hub        *eventHub
	registry   *prometheus.Registry
	publishers int // WHIP publishers connected, under mu
}

var (
	errNotFound     = errors.New("not found")
	errNoModel      = errors.New("no model configured: " + strings.ReplaceAll(ModelHelp, "\n", " "))
	errSessionEnded = errors.New("session ended")
	errBadRequest   = errors.New("bad request")
)

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Codec == "" {
		cfg.Codec = stream.VP8
	}
	if cfg.Codec != stream.VP8 && cfg.Codec != stream.H264 {
		return nil, fmt.Errorf("web: unknown codec %q (want vp8 or h264)", cfg.Codec)
	}
	if cfg.UploadLimit <= 0 {
		cfg.UploadLimit = DefaultUploadLimit
	}
	if cfg.UploadDir == "" {
		cfg.UploadDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewTracker != nil && cfg.ModelSize <= 0 {
		return nil, errors.New("web: Config.ModelSize must be set with NewTracker (1024 for SAM 2)")
	}
	cfg.MaxSessions = orDefault(cfg.MaxSessions, DefaultMaxSessions)
	cfg.PauseAfter = orDefault(cfg.PauseAfter, DefaultPauseAfter)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), sessions: make(map[string]*Session),
		fetch: newFetchClient(cfg.Sources.AllowPrivateURLs), reaped: make(chan struct{})}
	if dir := cfg.Sources.MediaRoot; dir != "" {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err == nil {
			s.root, err = os.OpenRoot(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("web: media root: %w", err)
		}
		s.rootPath = abs
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx, s.cancel = ctx, cancel
	s.hub = newEventHub(cfg.EventSinks)
	s.registry = newRegistry(s)
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("web: embedded files: %w", err)
	}
	files := http.FileServerFS(static)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, r.URL.Path))
			return
		}
		files.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("GET /api/info", s.handleInfo)
	s.mux.HandleFunc("GET /api/sessions", s.handleList)
	s.mux.HandleFunc("POST /api/sessions", s.handleCreate)
	s.mux.HandleFunc("GET /api/sessions/{id}", s.withSession(s.handleGet))
	s.mux.HandleFunc("DELETE /api/sessions/{id}", s.handleDelete)
	s.mux.HandleFunc("POST /api/sessions/{id}/whep", s.withSession(s.handleWHEP))
	s.mux.HandleFunc("OPTIONS /api/sessions/{id}/whep", s.withSession(s.handleWHEP))
	s.mux.HandleFunc("DELETE /api/sessions/{id}/whep/{viewer}", s.withSession(s.handleWHEP))
	s.mux.HandleFunc("POST /api/sessions/{id}/prompts", s.withSession(s.handlePrompt))
	s.mux.HandleFunc("DELETE /api/sessions/{id}/objects/{obj}", s.withSession(s.handleRemoveObject))
	s.editRoutes()
	s.mux.HandleFunc("GET /api/sessions/{id}/zones", s.withSession(s.handleGetZones))
	s.mux.HandleFunc("PUT /api/sessions/{id}/zones", s.withSession(s.handlePutZones))
	s.mux.HandleFunc("GET /api/events", s.handleEvents)
	s.mux.Handle("GET /metrics", s.metricsHandler())
	s.mux.HandleFunc("POST /api/whip", s.handleWHIPPost)
	s.mux.HandleFunc("DELETE /api/whip/{id}", s.handleWHIPDelete)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API route %s %s", r.Method, r.URL.Path))
	})
	go s.reap()
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.guard(w, r) {
		s.mux.ServeHTTP(w, r)
	}
}

// Close stops every session and waits for their pipelines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	sessions := s.sessions
	s.sessions = make(map[string]*Session)
	s.mu.Unlock()
	s.cancel()
	for _, ss := range sessions {
		<-ss.done
	}
	<-s.reaped
	s.hub.closeAll()
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

// Sessions lists the live sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	list := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	out := make([]SessionInfo, len(list))
	for i, ss := range list {
		out[i] = ss.info()
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.Created.Compare(b.Created) })
	return out
}

// SourceRequest is the JSON body that creates a session from a server-side
// source: a file path, an http(s):// or rtsp:// URL, or a /dev/videoN webcam.
type SourceRequest struct {
	Source string `json:"source"`
	// Loop replays a file from the start at its end (default true).
	Loop *bool `json:"loop,omitempty"`
	// Mode "edit" opens a file to scrub and track like the SAM 2 demo
	// (paused, seek, prompts on any frame, tracking passes, downloads);
	// "" or "live" tracks the latest frame as it plays.
	Mode string `json:"mode,omitempty"`
	// Camera names the source in analytics events (default: the session ID).
	Camera string `json:"camera,omitempty"`
}

// Open starts a session on src (what SourceRequest.Source accepts), under
// the same policy and limits as a client's request.
func (s *Server) Open(ctx context.Context, src string, loop bool) (*Session, error) {
	return s.openSource(ctx, src, openOptions{loop: loop})
}

// openSource checks src against the source policy and the session cap
// and opens it.
func (s *Server) openSource(ctx context.Context, src string, oo openOptions) (*Session, error) {
	if err := s.reserve(); err != nil {
		return nil, err
	}
	defer s.unreserve()
	in, err := s.resolve(ctx, src)
	if err != nil {
		return nil, err
	}
	oo.src = src
	return s.open(ctx, in, oo)
}

// Resume starts a looping session on the file src for the stored session
// id: Config.NewTracker sees id as SessionSpec.ResumeID.
func (s *Server) Resume(ctx context.Context, id, src string) (*Session, error) {
	return s.openSource(ctx, src, openOptions{loop: true, resumeID: id})
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
func (s *Server) open(ctx context.Context, in *source, oo openOptions) (ss *Session, err error) {
	cleanup := oo.cleanup
	defer func() {
		if err != nil && cleanup != nil {
			cleanup()
		}
	}()
	opts := in.opts
	opts.Realtime = true
	opts.Loop = in.file && oo.loop
	if s.cfg.NewTracker != nil && !oo.edit {
		opts.ModelSize = s.cfg.ModelSize
	}
	if oo.edit {
		if !in.file {
			return nil, fmt.Errorf("%w: %s is a live source; mode \"edit\" needs a file", errBadRequest, in.name)
		}
		// The player seeks and paces itself.
		opts = decode.Options{Formats: opts.Formats, Protocols: opts.Protocols, Input: opts.Input}
	}
	dec, err := decode.Open(ctx, in.target, opts)
	if err != nil {
		if c, ok := opts.Input.(io.Closer); ok {
			_ = c.Close()
		}
		if errors.Is(err, decode.ErrUnreachable) && opts.Input == nil {
			// FFmpeg's own words ("Connection refused") would tell what
			// listens where; say only that no video came.
			err = fmt.Errorf("%w: no video from %s", decode.ErrUnreachable, in.name)
		}
		return nil, fmt.Errorf("open %s: %w", in.name, err)
	}
	info := dec.Info()
	if oo.edit && info.Live {
		_ = dec.Close()
		return nil, fmt.Errorf("%w: %s is a live source; mode \"edit\" needs a file", errBadRequest, in.name)
	}
	var source frameSource = dec
	if info.Live && !in.file && strings.Contains(oo.src, "://") {
		// A live URL reopens through the same policy checks when lost.
		ro := s.cfg.Reconnect
		raw := oo.src
		ro.Reopen = func(ctx context.Context) (*decode.Decoder, error) {
			in, err := s.resolve(ctx, raw)
			if err != nil {
				return nil, err
			}
			o := in.opts
			o.Realtime, o.ModelSize, o.ProbeDuration = true, opts.ModelSize, 100*time.Millisecond
			d, err := decode.Open(ctx, in.target, o)
			if err != nil {
				if c, ok := o.Input.(io.Closer); ok {
					_ = c.Close()
				}
				return nil, err
			}
			return d, nil
		}
		source = decode.NewReconnecting(dec, in.name, opts, ro)
	}
	id := newID()
	if oo.resumeID != "" {
		// A resumed session keeps the ID it is stored under: one ID in the
		// server and the store.
		id = oo.resumeID
	}
	return s.start(ctx, id, in.name, in.path, dec, source, info, oo)
}

// start runs a session on an open source: dec, a file or device decoder,
// or nil; src, what the session reads (dec itself, or a source that wraps
// or replaces it). It closes src on failure.
func (s *Server) start(ctx context.Context, id, srcName, path string, dec *decode.Decoder, src frameSource, info decode.Info, oo openOptions) (ss *Session, err error) {
	if _, dup := s.session(id); dup {
		_ = src.Close()
		return nil, fmt.Errorf("%w: session %s is already open", errBadRequest, id)
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
		unattended: oo.unattended,
		state:      "playing", objects: make(map[int]*objectState), nextObj: 1, tracked: -1,
		Camera: oo.camera, hub: s.hub, log: s.cfg.Logger,
	}
	if ss.Camera == "" {
		ss.Camera = ss.ID
	}
	if r, ok := src.(*decode.Reconnecting); ok {
		ss.watchReconnects(r)
	}
	fps := info.FPS
	if fps <= 0 || fps > 240 {
		fps = 30
	}
	ss.encFPS = fps
	ss.enc, err = stream.NewVideoEncoder(encode.Options{
		Codec: s.cfg.Codec, Width: info.Width, Height: info.Height, FPS: fps, Bitrate: s.cfg.Bitrate,
		KeyframeInterval: int(fps * 2),
	})
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("session encoder for %dx%d: %w", info.Width, info.Height, err)
	}
	encOpts := encode.Options{
		Codec: s.cfg.Codec, Width: info.Width, Height: info.Height, FPS: fps, Bitrate: s.cfg.Bitrate,
		KeyframeInterval: int(fps * 2),
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
			Codec: s.cfg.Codec, Encoder: p.enc,
			ICEDisconnectedTimeout: s.cfg.ICEDisconnectedTimeout, ICEFailedTimeout: s.cfg.ICEFailedTimeout,
			Logger: s.cfg.Logger,
		})
		if err != nil {
			closeAll()
			return nil, err
		}
	}
	if oo.edit && dec != nil {
		ss.ed, err = s.newEditor(ctx, ss)
		if err != nil {
			closeAll()
			return nil, err
		}
	} else if s.cfg.NewTracker != nil {
		ss.trk, err = s.cfg.NewTracker(ctx, s.spec(id, path, info, oo))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open tracker: %w", err)
		}
	}
	if err := ss.initAnalytics(s.cfg.Analytics, oo.geo); err != nil {
		if c, ok := ss.trk.(io.Closer); ok {
			_ = c.Close()
		}
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, errors.New("server is shutting down")
	}
	if _, dup := s.sessions[ss.ID]; dup {
		s.mu.Unlock()
		if c, ok := ss.trk.(io.Closer); ok {
			_ = c.Close()
		}
		if ss.ed != nil {
			ss.ed.close()
		}
		closeAll()
		return nil, fmt.Errorf("%w: session %s is already open", errBadRequest, ss.ID)
	}
	s.sessions[ss.ID] = ss
	s.mu.Unlock()
	ss.touch()
	sctx, cancel := context.WithCancel(s.ctx)
	ss.cancel = cancel
	go ss.run(sctx, s.cfg.Logger, s.cfg.PauseAfter)
	s.cfg.Logger.Info("session opened", "session", ss.ID, "source", name, "width", info.Width, "height", info.Height, "fps", info.FPS, "mode", ss.info().Mode)
	return ss, nil
}

func (s *Server) session(id string) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	return ss, ok
}

func (s *Server) withSession(h func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		ss, ok := s.session(id)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("unknown session %q", id))
			return
		}
		h(w, r, ss)
	}
}

// Info is the app's static configuration, for the page.
type Info struct {
	Model       bool       `json:"model"`
	ModelName   string     `json:"modelName,omitempty"`
	ModelHelp   string     `json:"modelHelp,omitempty"`
	Codec       string     `json:"codec"`
	UploadLimit int64      `json:"uploadLimit"`
	Palette     [][3]uint8 `json:"palette"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	info := Info{Model: s.cfg.NewTracker != nil, ModelName: s.cfg.ModelName, Codec: s.cfg.Codec,
		UploadLimit: s.cfg.UploadLimit, Palette: overlay.Palette[:]}
	if !info.Model {
		info.ModelHelp = ModelHelp
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Sessions())
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, ss *Session) {
	writeJSON(w, http.StatusOK, ss.info())
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		ss  *Session
		err error
	)
	switch ct {
	case "multipart/form-data":
		if err := s.reserve(); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		ss, err = s.createFromUpload(w, r)
		s.unreserve()
	case "application/json", "":
		var req SourceRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("session request: want JSON {\"source\": path, URL or /dev/videoN}: %w", err))
			return
		}
		if strings.TrimSpace(req.Source) == "" {
			writeError(w, http.StatusBadRequest, errors.New("session request: empty \"source\""))
			return
		}
		edit, merr := parseMode(req.Mode)
		if merr != nil {
			writeError(w, http.StatusBadRequest, merr)
			return
		}
		loop := req.Loop == nil || *req.Loop
		ss, err = s.openSource(r.Context(), req.Source, openOptions{loop: loop, edit: edit, camera: req.Camera})
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want multipart/form-data (upload) or application/json (source)", ct))
		return
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Location", "/api/sessions/"+ss.ID)
	writeJSON(w, http.StatusCreated, ss.info())
}

// createFromUpload streams the "file" part to disk, refusing more than the
// upload limit, and opens a session on it.
func (s *Server) createFromUpload(w http.ResponseWriter, r *http.Request) (*Session, error) {
	limit := s.cfg.UploadLimit
	tooBig := &statusError{http.StatusRequestEntityTooLarge,
		fmt.Errorf("upload larger than the limit of %d bytes (%s); raise it with --upload-limit or VIDSEG_UPLOAD_LIMIT", limit, humanBytes(limit))}
	if r.ContentLength > limit+1<<20 {
		return nil, tooBig
	}
	// Headroom for the multipart framing around the file.
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	edit := false
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload: %w", err)}
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooBig
			}
			if errors.Is(err, io.EOF) {
				return nil, &statusError{http.StatusBadRequest, errors.New("upload: no \"file\" field in the form")}
			}
			return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload: %w", err)}
		}
		if part.FormName() == "mode" {
			// Sent before "file", as the page does.
			b, err := io.ReadAll(io.LimitReader(part, 16))
			part.Close()
			if err != nil {
				return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload: %w", err)}
			}
			if edit, err = parseMode(string(b)); err != nil {
				return nil, &statusError{http.StatusBadRequest, err}
			}
			continue
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		name := uploadName(part.FileName())
		f, err := os.CreateTemp(s.cfg.UploadDir, "vidseg-upload-*"+safeExt(name))
		if err != nil {
			s.cfg.Logger.Info("upload failed", "err", err)
			return nil, errors.New("upload: the server cannot store files now")
		}
		remove := func() { _ = os.Remove(f.Name()) }
		n, err := io.Copy(f, io.LimitReader(part, limit+1))
		cerr := f.Close()
		if err != nil {
			remove()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooBig
			}
			return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload interrupted: %w", err)}
		}
		if n > limit {
			remove()
			return nil, tooBig
		}
		if cerr != nil {
			remove()
			s.cfg.Logger.Info("upload failed", "err", cerr)
			return nil, errors.New("upload: the server cannot store files now")
		}
		if n == 0 {
			remove()
			return nil, &statusError{http.StatusBadRequest, errors.New("upload: the file is empty")}
		}
		in, err := uploadSource(f.Name(), name)
		if err != nil {
			remove()
			return nil, err
		}
		ss, err := s.open(r.Context(), in, openOptions{loop: true, edit: edit, name: name, display: "upload:" + name, cleanup: remove})
		if err != nil {
			// The user knows their file by its name, not our temporary path.
			return nil, &renamedError{err: err, from: f.Name(), to: name}
		}
		return ss, nil
	}
}

func safeExt(name string) string {
	ext := filepath.Ext(name)
	if len(ext) > 8 || strings.ContainsAny(ext, "/\\ *") {
		return ""
	}
	return ext
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.remove(id) {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown session %q", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request, ss *Session) {
	b := ss.b
	switch {
	case r.Method == http.MethodPost && r.URL.Query().Get("overlay") == "none":
		b = ss.clean // the page draws the masks itself
	case r.Method == http.MethodDelete:
		if err := ss.clean.RemoveViewer(r.PathValue("viewer")); err == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	stream.WHEP{B: b}.ServeHTTP(w, r)
}

// PromptRequest is the JSON body of POST /api/sessions/{id}/prompts. Object
// 0 starts a new object. Coordinates are source-frame pixels.
// Points and Box may be combined; Mask stands alone.
type PromptRequest struct {
	Object int            `json:"object"`
	Points []prompt.Point `json:"points"`
	Box    *mask.Box      `json:"box,omitempty"`
	// Mask is a COCO RLE of the whole frame; it stands alone, without
	// points or box.
	Mask *mask.RLE `json:"mask,omitempty"`
	// Frame is the frame the prompt is on, for edit sessions (the frame
	// the page shows); live sessions use the model's latest frame.
	Frame *int `json:"frame,omitempty"`
}

// PromptResponse answers a prompt with the object id and its first result.
type PromptResponse struct {
	Object  int                 `json:"object"`
	Frame   int                 `json:"frame"`
	Objects []stream.ObjectMeta `json:"objects"`
}

func (s *Server) handlePrompt(w http.ResponseWriter, r *http.Request, ss *Session) {
	if ss.trk == nil && (ss.ed == nil || ss.ed.trk == nil) {
		writeError(w, http.StatusConflict, errNoModel)
		return
	}
	var req PromptRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("prompt: want JSON {object, points:[{x,y,positive}], box:{x0,y0,x1,y1}}: %w", err))
		return
	}
	if req.Object < 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("prompt: object id %d is negative", req.Object))
		return
	}
	if req.Object > 0 {
		ss.mu.Lock()
		_, known := ss.objects[req.Object]
		ss.mu.Unlock()
		if !known {
			writeError(w, http.StatusNotFound, fmt.Errorf("unknown object %d in session %s (use object 0 to start one)", req.Object, ss.ID))
			return
		}
	}
	p := prompt.Prompt{Object: req.Object, Points: req.Points, Box: req.Box, Mask: req.Mask}
	if m := p.Mask; m != nil {
		if len(p.Points) > 0 || p.Box != nil {
			writeError(w, http.StatusBadRequest, errors.New("prompt: a mask cannot be combined with points or a box"))
			return
		}
		if m.Height != ss.Info.Height || m.Width != ss.Info.Width {
			writeError(w, http.StatusBadRequest, fmt.Errorf("prompt: mask size [%d %d], the video is [%d %d] (height, width)", m.Height, m.Width, ss.Info.Height, ss.Info.Width))
			return
		}
	}
	if p.Empty() {
		writeError(w, http.StatusBadRequest, errors.New("prompt: no points, box or mask"))
		return
	}
	if ss.ed != nil {
		if req.Frame == nil {
			writeError(w, http.StatusBadRequest, errors.New("prompt: an edit session needs \"frame\", the frame the prompt is on"))
			return
		}
		p.Frame = *req.Frame
		resp, err := ss.ed.prompt(r.Context(), p)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	obj, res, err := ss.Prompt(r.Context(), p)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	resp := PromptResponse{Object: obj, Frame: res.Frame}
	ss.mu.Lock()
	if ov := ss.overlay; ov != nil {
		resp.Objects = ov.objects
	}
	ss.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleRemoveObject(w http.ResponseWriter, r *http.Request, ss *Session) {
	raw := r.PathValue("obj")
	id, err := strconv.Atoi(raw)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("object id %q is not a positive integer", raw))
		return
	}
	remove := ss.RemoveObject
	if ss.ed != nil {
		remove = ss.ed.removeObject
	}
	if err := remove(r.Context(), id); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusError carries its HTTP status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func statusOf(err error) int {
	var se *statusError
	if st, ok := statusOfPolicy(err); ok {
		return st
	}
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, errNotFound), errors.Is(err, tracker.ErrUnknownObject), errors.Is(err, decode.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errBadRequest), errors.Is(err, tracker.ErrPromptOutside), errors.Is(err, tracker.ErrEmptyPrompt),
		errors.Is(err, decode.ErrNotVideo), errors.Is(err, decode.ErrUnsupportedCodec), errors.Is(err, decode.ErrCorrupt),
		errors.Is(err, decode.ErrTruncated):
		return http.StatusBadRequest
	case errors.Is(err, decode.ErrUnreachable):
		return http.StatusBadGateway
	case errors.Is(err, errNoFrameYet), errors.Is(err, tracker.ErrFrameNotCached), errors.Is(err, errNoModel):
		return http.StatusConflict
	case errors.Is(err, errSessionEnded):
		return http.StatusGone
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return stream.StatusOf(err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	stream.WriteError(w, status, err)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return fmt.Sprintf("%x", b[:])
}
