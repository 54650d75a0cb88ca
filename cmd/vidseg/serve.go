package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

func runServe(ctx context.Context, e *env, args []string) error {
	s, err := loadSettings(e, args)
	if err != nil {
		return err
	}
	fs := newFlags(e, "serve", "vidseg serve [--addr 127.0.0.1:8080] [--model DIR] [--media-root DIR] [--store FILE] [--resume ID|all]...",
		`Runs the web app: open a video (upload; with the flags below a file of
--media-root, an HTTP/RTSP URL or a --devices webcam), click objects, watch
the masks over WebRTC.

It listens on 127.0.0.1 unless --addr says otherwise; on any other address
every request needs the access token (--token, VIDSEG_TOKEN, or one made up
and printed with the URL to open).

Every session is journaled in --store (bbolt): each prompt and each finished
frame's masks are fsync'd as they happen, so a crash or kill -9 loses none.
After a restart, --resume ID (or --resume all) reopens stored sessions whose
source is a file that still exists and replays their prompts as tracking
reaches their frames. `+"`vidseg sessions`"+` lists and exports the store.

Without a model the app still plays video and explains how to get one.`,
		`  vidseg serve
  vidseg serve --addr 127.0.0.1:9000 --model models/sam2.1_hiera_t --codec h264
  vidseg serve --addr :8080 --media-root /srv/videos --allow-urls
  vidseg serve --store /var/lib/vidseg/sessions.db --resume all`)
	configFlag(fs)
	s.flag(fs, "addr")
	s.flag(fs, "model")
	s.flag(fs, "ort_lib")
	s.flag(fs, "provider")
	s.flag(fs, "threads")
	s.flag(fs, "mode")
	s.flag(fs, "codec")
	s.flag(fs, "upload_limit")
	s.flag(fs, "store")
	noStore := fs.Bool("no-store", false, "keep no session store (nothing survives a restart)")
	var resume listFlag
	fs.Var(&resume, "resume", "resume stored session `ID` (repeatable), or \"all\"")
	for _, k := range []string{"token", "media_root", "max_sessions", "pause_after", "idle_timeout"} {
		s.flag(fs, k)
	}
	var devices, origins listFlag
	fs.Var(&devices, "devices", "capture devices clients may open, comma-separated (`/dev/video0,...`)")
	fs.Var(&origins, "cors-origin", "web `ORIGIN` allowed to call the API and WHEP (repeatable)")
	allowURLs := fs.Bool("allow-urls", false, "let clients open http(s):// and rtsp:// URLs")
	allowPrivate := fs.Bool("allow-private-urls", false, "let URLs reach loopback, private, link-local and metadata addresses")
	verbose := fs.Bool("v", false, "log sessions and viewers")
	evFlags := addEventFlags(fs)
	lostAfter := fs.Duration("source-lost-after", time.Minute, "end a live source (a camera restarts) once it has been unreachable this `long`")
	camerasPath := fs.String("cameras", "", "start the cameras in `FILE` (YAML: name, source, prompts, zones, lines), restart them on failure and resume them after a restart")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos)
	}
	limit, err := parseBytes(s.get("upload_limit"))
	if err != nil {
		return usagef("upload limit (from %s): %v", s.source("upload_limit"), err)
	}
	codec := s.get("codec")
	if codec != "vp8" && codec != "h264" {
		return usagef("codec %q (from %s): want vp8 or h264", codec, s.source("codec"))
	}
	mode, err := tracker.ParseMode(s.get("mode"))
	if err != nil {
		return usagef("%v", err)
	}
	var cameras []cameraConfig
	if *camerasPath != "" {
		if cameras, err = loadCameras(*camerasPath); err != nil {
			return err
		}
	}
	if *noStore && len(resume) > 0 {
		return usagef("serve: --resume needs the store; drop --no-store")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	cfg := web.Config{Codec: codec, UploadLimit: limit, AllowOrigins: origins,
		Sources: web.SourcePolicy{MediaRoot: s.get("media_root"), Devices: splitList(devices),
			AllowURLs: *allowURLs, AllowPrivateURLs: *allowPrivate}}
	if err := sessionLimits(s, &cfg); err != nil {
		return err
	}
	cfg.Reconnect.GiveUpAfter = *lostAfter
	sinks, closeSinks, err := evFlags.open(log)
	if err != nil {
		return err
	}
	defer closeSinks()
	cfg.EventSinks = sinks
	if *verbose {
		cfg.Logf = func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
	}

	var st *store.Store
	if !*noStore {
		st, err = store.Open(s.get("store"))
		if err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w: is another `vidseg serve` using it? pass --store FILE", err)
			}
			return err
		}
		defer st.Close()
	}

	var journal *sessionJournal
	if _, err := findModel(s); err != nil {
		fmt.Fprintf(e.stderr, "vidseg: serve: %v\nvidseg: serve: playing video without tracking\n", err)
	} else {
		lm, err := openModel(s, e.stderr, log)
		if err != nil {
			return err
		}
		defer lm.Close()
		man := lm.model.Manifest()
		shared := sam.NewScheduler(lm.model)
		journal = &sessionJournal{st: st, maskSize: man.MaskSize, mode: mode.String(), model: lm.name(), log: log}
		cfg.ModelSize = man.ImageSize
		cfg.ModelName = man.Variant
		if lm.choice.random {
			cfg.ModelName += " (random weights)"
		}
		cfg.NewTracker = func(ctx context.Context, info decode.Info) (web.Tracker, error) {
			c := shared.Client()
			t, err := tracker.New(c, tracker.Config{Mode: mode, NumFrames: 0, Logger: log, MaxCondFrames: web.StreamCondFrames})
			if err != nil {
				return nil, err
			}
			jt, err := journal.wrap(ctx, t, info)
			if err != nil {
				return nil, err
			}
			return &sharedTracker{Tracker: jt, Client: c, t: t}, nil
		}
		// Edit sessions (scrub and track a file) are not journaled.
		cfg.NewFileTracker = func(ctx context.Context, info decode.Info, frames int, src tracker.FrameSource) (web.FileTracker, error) {
			return tracker.New(shared.Client(), tracker.Config{Mode: mode, NumFrames: frames, Source: src, KeepAll: true, Logger: log})
		}
	}

	ln, err := net.Listen("tcp", s.get("addr"))
	if err != nil {
		return fmt.Errorf("serve: listen on %s (from %s): %w", s.get("addr"), s.source("addr"), err)
	}
	defer ln.Close()
	cfg.Token = s.get("token")
	if cfg.Token == "" && !isLoopback(ln.Addr()) {
		cfg.Token = web.NewToken()
	}
	if cfg.UploadDir, err = uploadDir(s, *noStore); err != nil {
		return err
	}
	if *noStore {
		defer os.RemoveAll(cfg.UploadDir)
	}
	srv, err := web.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	if len(resume) > 0 {
		if journal == nil {
			return modelErr(errors.New("serve: --resume needs a model to replay prompts"))
		}
		if err := resumeSessions(ctx, e, srv, st, resume); err != nil {
			return err
		}
	}

	camCtx, stopCameras := context.WithCancel(ctx)
	var cams sync.WaitGroup
	defer func() { stopCameras(); cams.Wait() }()
	for _, c := range cameras {
		cams.Go(func() { runCamera(camCtx, srv, st, journal != nil, c, log) })
	}

	printURL(e.stderr, ln.Addr(), cfg.Token)
	hs := &http.Server{Handler: withSource(srv), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	fmt.Fprintln(e.stderr, "vidseg: serve: stopped")
	return nil
}

// resumeSessions reopens stored sessions by ID ("all": every one whose
// source file still exists).
func resumeSessions(ctx context.Context, e *env, srv *web.Server, st *store.Store, ids []string) error {
	var infos []store.Info
	for _, id := range ids {
		if id == "all" {
			list, err := st.List()
			if err != nil {
				return err
			}
			for _, info := range list {
				if _, err := os.Stat(info.Source); err == nil {
					infos = append(infos, info)
				}
			}
			continue
		}
		sess, err := st.Session(id)
		if err != nil {
			return inputErr(fmt.Errorf("serve --resume: %w", err))
		}
		infos = append(infos, sess.Info)
	}
	for _, info := range infos {
		if !strings.HasPrefix(info.Source, "/") {
			return inputErr(fmt.Errorf("serve --resume %s: source %q is not a file path that can be reopened", info.ID, info.Source))
		}
		rctx := web.WithSessionID(context.WithValue(ctx, resumeKey{}, info.ID), info.ID)
		rctx = context.WithValue(rctx, sourceKey{}, info.Source)
		ss, err := srv.Open(rctx, info.Source, true)
		if err != nil {
			return inputErr(fmt.Errorf("serve --resume %s: %w", info.ID, err))
		}
		fmt.Fprintf(e.stderr, "vidseg: resumed stored session %s (%s) as web session %s\n", info.ID, info.Source, ss.ID)
	}
	return nil
}

type resumeKey struct{}
type sourceKey struct{}

// withSource passes the source of a JSON session request to NewTracker
// through the request context (web.Config.NewTracker is given only the
// decoded stream's Info), so the store knows what to reopen on --resume.
func withSource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/sessions" {
			src := "upload"
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
				body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
				r.Body.Close()
				if err != nil {
					http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
					return
				}
				var req struct {
					Source string `json:"source"`
				}
				if json.Unmarshal(body, &req) == nil {
					src = req.Source
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			r = r.WithContext(context.WithValue(r.Context(), sourceKey{}, src))
		}
		next.ServeHTTP(w, r)
	})
}

// sessionJournal creates (or, on resume, adopts) a store session for each
// web session and wraps its tracker.
type sessionJournal struct {
	st       *store.Store // nil with --no-store
	maskSize int
	mode     string // tracker mode, recorded in each session
	model    string // model variant and directory, recorded in each session
	log      *slog.Logger
}

func (j *sessionJournal) wrap(ctx context.Context, t *tracker.Tracker, info decode.Info) (web.Tracker, error) {
	if j.st == nil {
		return t, nil
	}
	src, _ := ctx.Value(sourceKey{}).(string)
	if id, ok := ctx.Value(resumeKey{}).(string); ok {
		sess, err := j.st.Session(id)
		if err != nil {
			return nil, err
		}
		if err := j.sameSettings(sess.Info); err != nil {
			return nil, err
		}
		return newJournaledTracker(t, j.st, id, j.maskSize, replayPrompts(sess.Prompts, info), j.log), nil
	}
	// The store keeps the session under the ID its clients use.
	id, _ := web.SessionID(ctx)
	si, err := j.st.CreateSession(store.Info{
		ID:     id,
		Source: src, Width: info.Width, Height: info.Height, FPS: info.FPS, Frames: info.Frames,
		Mode: j.mode, Model: j.model,
		Meta: cameraMeta(ctx),
	})
	if err != nil {
		return nil, err
	}
	return newJournaledTracker(t, j.st, si.ID, j.maskSize, nil, j.log), nil
}

// sameSettings refuses to resume a session under another mode or model:
// its stored masks and the replayed prompts' results would not belong
// together. Sessions stored before mode and model were recorded pass.
func (j *sessionJournal) sameSettings(info store.Info) error {
	if info.Mode != "" && info.Mode != j.mode {
		return fmt.Errorf("session %s was tracked in mode %s, not %s: resume it with --mode %s", info.ID, info.Mode, j.mode, info.Mode)
	}
	if info.Model != "" && info.Model != j.model {
		return fmt.Errorf("session %s was tracked with model %s, not %s", info.ID, info.Model, j.model)
	}
	return nil
}
