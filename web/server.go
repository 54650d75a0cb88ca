// Package web serves the click-to-track app over HTTP: an embedded
// single-page UI and a JSON API that creates sessions from uploads,
// server files, HTTP/RTSP URLs or V4L2 webcams, streams each session's
// overlay over WebRTC (WHEP), takes WebRTC publishers (WHIP), prompts,
// zones and edit-session controls, and streams analytics events (SSE).
// The sessions themselves run in package session; this package is their
// HTTP face.
package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/tracker"
)

//go:embed static
var staticFiles embed.FS

// ModelHelp tells a user without a model how to get one; the page shows it.
const ModelHelp = session.ModelHelp

// DefaultUploadLimit is the largest upload accepted when Config.UploadLimit is 0.
const DefaultUploadLimit = 2 << 30

// SourcePolicy is what clients may open besides uploads (source.Policy).
type SourcePolicy = source.Policy

// SessionInfo is the JSON view of a session (session.Status).
type SessionInfo = session.Status

// Config configures a Server: the sessions' configuration (see
// session.Config for the fields it shares) and the HTTP face's own.
type Config struct {
	// NewTracker opens a tracker for a new session; nil means no model is
	// configured and sessions only play video.
	NewTracker func(ctx context.Context, spec session.Spec) (session.Tracker, error)
	// NewFileTracker opens the tracker of an edit session; nil: edit
	// sessions play without tracking.
	NewFileTracker func(ctx context.Context, info decode.Info, frames int, src tracker.FrameSource) (session.FileTracker, error)
	// JournalFile wraps every edit session's tracker (session.Config).
	JournalFile func(ctx context.Context, spec session.Spec, t session.FileTracker) (session.FileTracker, error)
	// ModelSize is the model's square input size; used only with NewTracker.
	ModelSize int
	// ModelName is shown on the page.
	ModelName string
	// Codec is the WebRTC video codec, "vp8" (default) or "h264".
	Codec string
	// Bitrate in bits per second; 0 lets the encoder choose.
	Bitrate int
	// UploadLimit caps uploaded files in bytes (DefaultUploadLimit if 0).
	UploadLimit int64
	// UploadDir holds uploads while their session lives, and rendered
	// downloads (os.TempDir() if ""); a server keeps them in its own data
	// directory.
	UploadDir string
	// Sources is what clients may open besides uploads (nothing by default).
	Sources SourcePolicy
	// Token, when set, is required on every request (page, API, WHEP).
	// Without it only loopback Host names are answered.
	Token string
	// PublicURL is the origin the page is served from when a proxy
	// stands in front (https://vidseg.example.org): the page's own
	// requests carry it as Origin, and the token cookie is Secure when it
	// is https. Empty: the request's own scheme and Host.
	PublicURL string
	// Cameras are the names of the operator's cameras: no client session
	// may take one as its camera name (events are numbered per camera).
	Cameras []string
	// AllowOrigins are the web origins ("https://app.example") allowed to
	// call the API and WHEP from their pages (CORS).
	AllowOrigins []string
	// MaxSessions, PauseAfter and IdleTimeout bound sessions
	// (session.Config).
	MaxSessions int
	PauseAfter  time.Duration
	IdleTimeout time.Duration
	// PromptTimeout and PromptBudget bound the model time of prompts
	// (session.Config).
	PromptTimeout, PromptBudget time.Duration
	// ICE timeouts for viewers (pion defaults when zero).
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// Per client address (0: the Default of the same name, <0: none):
	// uploads in flight, /api/events streams, WHIP publishers.
	UploadsPerClient, EventStreamsPerClient, WHIPPerClient int
	// EventStreamLifetime closes an event stream after this long (the
	// client reconnects): DefaultEventStreamLifetime if 0, never if <0.
	EventStreamLifetime time.Duration
	// ViewersPerSession and Viewers cap WHEP viewers of one session and
	// of all (DefaultViewersPerSession, DefaultViewers if 0; none if <0).
	ViewersPerSession, Viewers int
	// BodyGrace and BodyMinRate (bytes a second): an upload must arrive
	// at BodyMinRate on average after BodyGrace (DefaultBodyGrace,
	// DefaultBodyMinRate if 0; no deadline if <0).
	BodyGrace   time.Duration
	BodyMinRate int64
	// Forget removes a deleted session's record (its journal in the
	// store): DELETE /api/sessions/{id} ends the session for good unless
	// the client asks to keep it (?keep=store). Nil: nothing to remove.
	Forget func(id string) error
	// Logger receives session and viewer events (Info); nil discards them.
	Logger *slog.Logger
	// EventSinks receive every session's analytics events (JSON Lines
	// file, webhooks); /api/events streams them too.
	EventSinks []events.Sink
	// Analytics tunes event detection (Camera is set per session).
	Analytics events.Config
	// Reconnect tunes how live network sources are reopened when lost.
	// Discovery, if on, finds new objects on live sessions every so
	// often (session.Discovery: segment everything, masks no object
	// covers become objects).
	Discovery *session.Discovery
	Reconnect decode.ReconnectOptions
}

// sessions is the part of c the session manager takes.
func (c Config) sessions() session.Config {
	return session.Config{
		NewTracker: c.NewTracker, NewFileTracker: c.NewFileTracker, JournalFile: c.JournalFile, ModelSize: c.ModelSize,
		Codec: c.Codec, Bitrate: c.Bitrate, Sources: c.Sources, Cameras: c.Cameras,
		MaxSessions: c.MaxSessions, PauseAfter: c.PauseAfter, IdleTimeout: c.IdleTimeout,
		PromptTimeout: c.PromptTimeout, PromptBudget: c.PromptBudget,
		ICEDisconnectedTimeout: c.ICEDisconnectedTimeout, ICEFailedTimeout: c.ICEFailedTimeout,
		Logger: c.Logger, EventSinks: c.EventSinks, Analytics: c.Analytics, Reconnect: c.Reconnect,
		Discovery: c.Discovery,
	}
}

// ModelTrackers configures cfg to track with the scheduler's model as
// `vidseg serve` does (session.ModelTrackers).
func ModelTrackers(cfg Config, sched *sam.Scheduler, mode tracker.Mode, tune ...func(*tracker.Config)) Config {
	sc := session.ModelTrackers(session.Config{Logger: cfg.Logger}, sched, mode, tune...)
	cfg.ModelSize, cfg.NewTracker, cfg.NewFileTracker = sc.ModelSize, sc.NewTracker, sc.NewFileTracker
	return cfg
}

// orDefault is v, def if v is 0, and 0 (none) if v < 0.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Server is the HTTP handler of the app. Close it to stop every session.
type Server struct {
	cfg Config
	mux *http.ServeMux
	m   *session.Manager

	// ctx ends when the server closes: event streams and WHIP publishers
	// waiting for their first picture stop.
	ctx    context.Context
	cancel context.CancelFunc

	registry *prometheus.Registry

	limits limits

	mu         sync.Mutex
	publishers int            // WHIP publishers connected
	offers     map[string]int // WHEP offers being answered, per session
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.UploadLimit <= 0 {
		cfg.UploadLimit = DefaultUploadLimit
	}
	if cfg.PublicURL != "" {
		o, err := PublicOrigin(cfg.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		cfg.PublicURL = o
	}
	if cfg.UploadDir == "" {
		cfg.UploadDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.UploadsPerClient = orDefault(cfg.UploadsPerClient, DefaultUploadsPerClient)
	cfg.EventStreamsPerClient = orDefault(cfg.EventStreamsPerClient, DefaultEventStreamsPerClient)
	cfg.WHIPPerClient = orDefault(cfg.WHIPPerClient, DefaultWHIPPerClient)
	cfg.EventStreamLifetime = orDefault(cfg.EventStreamLifetime, DefaultEventStreamLifetime)
	cfg.ViewersPerSession = orDefault(cfg.ViewersPerSession, DefaultViewersPerSession)
	cfg.Viewers = orDefault(cfg.Viewers, DefaultViewers)
	cfg.BodyGrace = orDefault(cfg.BodyGrace, DefaultBodyGrace)
	cfg.BodyMinRate = orDefault(cfg.BodyMinRate, DefaultBodyMinRate)
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("web: embedded files: %w", err)
	}
	m, err := session.New(cfg.sessions())
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	cfg.Codec = m.Codec()
	s := &Server{cfg: cfg, mux: http.NewServeMux(), m: m, limits: newLimits(cfg)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.registry = s.newRegistry()
	s.routes(http.FileServerFS(static))
	return s, nil
}

func (s *Server) routes(files http.Handler) {
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
	s.mux.HandleFunc("POST /api/sessions/{id}/everything", s.withSession(s.handleEverything))
	s.editRoutes()
	s.mediaRoutes()
	s.mux.HandleFunc("GET /api/sessions/{id}/zones", s.withSession(s.handleGetZones))
	s.mux.HandleFunc("PUT /api/sessions/{id}/zones", s.withSession(s.handlePutZones))
	s.mux.HandleFunc("GET /api/events", s.handleEvents)
	s.mux.Handle("GET /metrics", s.metricsHandler())
	s.mux.HandleFunc("POST /api/whip", s.handleWHIPPost)
	s.mux.HandleFunc("DELETE /api/whip/{id}", s.handleWHIPDelete)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API route %s %s", r.Method, r.URL.Path))
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// No other site may frame the page (clickjacking).
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	if s.guard(w, r) {
		s.mux.ServeHTTP(w, r)
	}
}

// Close stops every session and waits for their pipelines to end.
func (s *Server) Close() error {
	s.cancel()
	return s.m.Close()
}

// Manager is the session manager the server serves (for cameras that
// the operator configured).
func (s *Server) Manager() *session.Manager { return s.m }

// MaxSessions is the session cap the server runs under.
func (s *Server) MaxSessions() int { return s.m.MaxSessions() }

// Sessions lists the live sessions.
func (s *Server) Sessions() []SessionInfo { return s.m.List() }

// Resume starts a looping session on the file src for the stored session
// id (session.Manager.Resume).
func (s *Server) Resume(ctx context.Context, id, src string) (*session.Session, error) {
	return s.m.Resume(ctx, id, src)
}

// Handle adds a route to the server's mux (http.ServeMux patterns): it is
// served behind the same guard as the app's own (host names, access
// token, CORS). For routes of other packages, such as a cluster's.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// PublishEvents hands events tracked elsewhere (a worker of a cluster) to
// the event sinks and to /api/events, under session.
func (s *Server) PublishEvents(session string, evs []events.Event) { s.m.PublishEvents(session, evs) }

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
	info := Info{Model: s.m.Model(), ModelName: s.cfg.ModelName, Codec: s.cfg.Codec,
		UploadLimit: s.cfg.UploadLimit, Palette: overlay.Palette[:]}
	if !info.Model {
		info.ModelHelp = ModelHelp
	}
	writeJSON(w, http.StatusOK, info)
}
