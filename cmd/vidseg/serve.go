package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

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
	fs := cli.NewFlags(e, "serve", "vidseg serve [--addr :8080] [--model DIR] [--store FILE] [--resume ID|all]...",
		`Runs the web app: open a video (upload, server path, HTTP/RTSP URL or
/dev/videoN), click objects, watch the masks over WebRTC.

Every session is journaled in --store (bbolt): each prompt and each finished
frame's masks are fsync'd as they happen, so a crash or kill -9 loses none.
After a restart, --resume ID (or --resume all) reopens stored sessions whose
source is a file that still exists and replays their prompts as tracking
reaches their frames. `+"`vidseg sessions`"+` lists and exports the store.

Without a model the app still plays video and explains how to get one.`,
		`  vidseg serve
  vidseg serve --addr 127.0.0.1:9000 --model models/sam2.1_hiera_t --codec h264
  vidseg serve --store /var/lib/vidseg/sessions.db --resume all`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "addr", "model", "ort_lib", "provider", "threads", "mode", "codec", "upload_limit", "store")
	noStore := fs.Bool("no-store", false, "keep no session store (nothing survives a restart)")
	var resume cli.List
	fs.Var(&resume, "resume", "resume stored session `ID` (repeatable), or \"all\"")
	fileRoot := fs.String("file-root", "", "confine server-side source paths to this `DIR`")
	verbose := fs.Bool("v", false, "log sessions and viewers")
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
	if *noStore && len(resume) > 0 {
		return cli.Usagef("serve: --resume needs the store; drop --no-store")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := web.Config{Codec: codec, UploadLimit: limit, FileRoot: *fileRoot, Logger: log}

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
	if _, err := findModel(s); err != nil {
		fmt.Fprintf(e.Stderr, "vidseg: serve: %v\nvidseg: serve: playing video without tracking\n", err)
	} else {
		lm, err := openModel(s, e.Stderr, log)
		if err != nil {
			return err
		}
		defer lm.Close()
		man := lm.model.Manifest()
		cfg = web.ModelTrackers(cfg, sam.NewShared(lm.model), mode)
		cfg.ModelName = man.Variant
		if lm.choice.Random {
			cfg.ModelName += " (random weights)"
		}
		if st != nil {
			cfg.NewTracker = journal.Trackers(st, log, cfg.NewTracker)
		}
		// Edit sessions (scrub and track a file) are not journaled.
		withModel = true
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
		if err := resumeSessions(ctx, e, srv, st, resume); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", s.Get("addr"))
	if err != nil {
		return fmt.Errorf("serve: listen on %s (from %s): %w", s.Get("addr"), s.Source("addr"), err)
	}
	fmt.Fprintf(e.Stderr, "vidseg: serving on http://%s\n", ln.Addr())
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

// resumeSessions reopens stored sessions by ID ("all": every one whose
// source file still exists).
func resumeSessions(ctx context.Context, e *cli.Env, srv *web.Server, st *store.Store, ids []string) error {
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
			return cli.InputErr(fmt.Errorf("serve --resume: %w", err))
		}
		infos = append(infos, sess.Info)
	}
	for _, info := range infos {
		if !strings.HasPrefix(info.Source, "/") {
			return cli.InputErr(fmt.Errorf("serve --resume %s: source %q is not a file path that can be reopened", info.ID, info.Source))
		}
		ss, err := srv.Resume(ctx, info.ID, info.Source)
		if err != nil {
			return cli.InputErr(fmt.Errorf("serve --resume %s: %w", info.ID, err))
		}
		fmt.Fprintf(e.Stderr, "vidseg: resumed stored session %s (%s) as web session %s\n", info.ID, info.Source, ss.ID)
	}
	return nil
}
