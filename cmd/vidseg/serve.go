package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/internal/camera"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/journal"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/store"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

func runServe(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "serve", "vidseg serve [--addr 127.0.0.1:8080] [--model DIR] [--media-root DIR] [--store FILE] [--resume ID|all]...",
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
	cli.ConfigFlag(fs)
	s.Flag(fs, "addr", "model", "ort_lib", "provider", "threads", "mode", "codec", "upload_limit", "store")
	noStore := fs.Bool("no-store", false, "keep no session store (nothing survives a restart)")
	var resume cli.List
	fs.Var(&resume, "resume", "resume stored session `ID` (repeatable), or \"all\"")
	for _, k := range []string{"token", "media_root", "max_sessions", "pause_after", "idle_timeout"} {
		s.Flag(fs, k)
	}
	var devices, origins cli.List
	fs.Var(&devices, "devices", "capture devices clients may open, comma-separated (`/dev/video0,...`)")
	fs.Var(&origins, "cors-origin", "web `ORIGIN` allowed to call the API and WHEP (repeatable)")
	allowURLs := fs.Bool("allow-urls", false, "let clients open http(s):// and rtsp:// URLs")
	allowPrivate := fs.Bool("allow-private-urls", false, "let URLs reach loopback, private, link-local and metadata addresses")
	verbose := fs.Bool("v", false, "log sessions and viewers")
	evFlags := addEventFlags(fs)
	lostAfter := fs.Duration("source-lost-after", time.Minute, "end a live source (a camera restarts) once it has been unreachable this `long`")
	cf := addClusterFlags(fs)
	camerasPath := fs.String("cameras", "", "start the cameras in `FILE` (YAML: name, source, prompts, zones, lines), restart them on failure and resume them after a restart")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("serve takes no arguments, got %q", pos)
	}
	limit, err := cli.ParseBytes(s.Get("upload_limit"))
	if err != nil {
		return cli.Usagef("upload limit (from %s): %v", s.Source("upload_limit"), err)
	}
	codec := s.Get("codec")
	if codec != "vp8" && codec != "h264" {
		return cli.Usagef("codec %q (from %s): want vp8 or h264", codec, s.Source("codec"))
	}
	mode, err := tracker.ParseMode(s.Get("mode"))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	var cameras []camera.Config
	if *camerasPath != "" {
		if cameras, err = camera.Load(*camerasPath); err != nil {
			return cli.InputErr(err)
		}
	}
	if *cf.workers && len(cameras) == 0 {
		return cli.Usagef("serve: --workers hands the --cameras to workers; name a cameras file")
	}
	if *noStore && len(resume) > 0 {
		return cli.Usagef("serve: --resume needs the store; drop --no-store")
	}
	log := cli.NewLogger(e.Stderr, *verbose)

	cfg := web.Config{Codec: codec, UploadLimit: limit, AllowOrigins: origins, Logger: log,
		Sources: web.SourcePolicy{MediaRoot: s.Get("media_root"), Devices: cli.SplitList(devices),
			AllowURLs: *allowURLs, AllowPrivateURLs: *allowPrivate}}
	if err := cli.SessionLimits(s, &cfg); err != nil {
		return err
	}
	cfg.Reconnect.GiveUpAfter = *lostAfter
	sinks, closeSinks, err := evFlags.open(log)
	if err != nil {
		return err
	}
	defer closeSinks()
	cfg.EventSinks = sinks

	var st *store.Store
	if !*noStore {
		st, err = store.Open(s.Get("store"))
		if err != nil {
			if errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("%w: is another `vidseg serve` using it? pass --store FILE", err)
			}
			return err
		}
		defer st.Close()
	}

	withModel := false
	if _, err := cli.FindModel(s); err != nil {
		fmt.Fprintf(e.Stderr, "vidseg: serve: %v\nvidseg: serve: playing video without tracking\n", err)
	} else {
		lm, err := cli.OpenModel(s, e.Stderr, log)
		if err != nil {
			return err
		}
		defer lm.Close()
		man := lm.Manifest()
		cfg = web.ModelTrackers(cfg, sam.NewScheduler(lm.Model), mode)
		cfg.ModelName = man.Variant
		if lm.Choice.Random {
			cfg.ModelName += " (random weights)"
		}
		if st != nil {
			cfg.NewTracker = journal.Trackers(st, log, journal.Settings{Mode: mode.String(), Model: lm.Name()}, cfg.NewTracker)
		}
		// Edit sessions (scrub and track a file) are not journaled.
		withModel = true
	}

	ln, err := net.Listen("tcp", s.Get("addr"))
	if err != nil {
		return fmt.Errorf("serve: listen on %s (from %s): %w", s.Get("addr"), s.Source("addr"), err)
	}
	defer ln.Close()
	cfg.Token = s.Get("token")
	if cfg.Token == "" && !cli.IsLoopback(ln.Addr()) {
		cfg.Token = web.NewToken()
	}
	if cfg.UploadDir, err = cli.UploadDir(s, *noStore); err != nil {
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
		if !withModel {
			return cli.ModelErr(errors.New("serve: --resume needs a model to replay prompts"))
		}
		if err := cli.ResumeSessions(ctx, e, srv, st, resume); err != nil {
			return err
		}
	}

	dir, err := natsDir(s, *noStore)
	if err != nil {
		return err
	}
	if *noStore {
		defer os.RemoveAll(dir)
	}
	node, err := cf.start(ctx, e, dir, srv, log)
	if err != nil {
		return err
	}
	defer node.Close()

	camCtx, stopCameras := context.WithCancel(ctx)
	var cams sync.WaitGroup
	defer func() { stopCameras(); cams.Wait() }()
	if *cf.workers {
		cc, err := clusterCameras(cameras)
		if err != nil {
			return err
		}
		if err := node.bus.PutCameras(ctx, cc); err != nil {
			return fmt.Errorf("serve: cameras for the workers: %w", err)
		}
		cameras = nil
	}
	for _, c := range cameras {
		cams.Go(func() { camera.Run(camCtx, srv, st, withModel, c, log) })
	}

	cli.PrintURL(e.Stderr, ln.Addr(), cfg.Token)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
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
	fmt.Fprintln(e.Stderr, "vidseg: serve: stopped")
	return nil
}

// eventFlags are serve's analytics outputs.
type eventFlags struct {
	file     *string
	webhooks cli.List
}

func addEventFlags(fs *cli.Flags) *eventFlags {
	ef := &eventFlags{file: fs.String("events-file", "", "append analytics events to `FILE` as JSON Lines")}
	fs.Var(&ef.webhooks, "webhook", "POST analytics events to `URL` (repeatable; retried with backoff)")
	return ef
}

// open starts the sinks; the returned func flushes and closes them.
func (ef *eventFlags) open(log *slog.Logger) ([]events.Sink, func(), error) {
	return cli.OpenEventSinks(*ef.file, ef.webhooks, log)
}
