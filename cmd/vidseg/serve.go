package main

import (
	"context"
	"time"

	"github.com/vidseg/vidseg/internal/camera"
	"github.com/vidseg/vidseg/internal/cli"
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
	s.Flag(fs, "addr", "model", "ort_lib", "provider", "threads", "attention", "matmul", "resident", "mode", "corrections_as_cond", "fill_holes", "codec", "upload_limit", "store")
	noStore := fs.Bool("no-store", false, "keep no session store (nothing survives a restart)")
	var resume cli.List
	fs.Var(&resume, "resume", "resume stored session `ID` (repeatable), or \"all\"")
	for _, k := range []string{"token", "media_root", "max_sessions", "pause_after", "idle_timeout", "prompt_timeout", "prompt_budget", "discover_every", "discover_max_objects", "discover_drop_after"} {
		s.Flag(fs, k)
	}
	var devices, origins cli.List
	fs.Var(&devices, "devices", "capture devices clients may open, comma-separated (`/dev/video0,...`)")
	fs.Var(&origins, "cors-origin", "web `ORIGIN` allowed to call the API and WHEP (repeatable)")
	publicURL := fs.String("public-url", "", "the `ORIGIN` the page is served from behind a proxy (https://vidseg.example.org): the page's requests carry it, and the token cookie is Secure for https")
	allowURLs := fs.Bool("allow-urls", false, "let clients open http(s):// and rtsp:// URLs")
	allowPrivate := fs.Bool("allow-private-urls", false, "let URLs reach loopback, private, link-local and metadata addresses")
	rtspUDP := fs.Bool("rtsp-udp", false, "let RTSP media come over UDP (its address chosen by the server; redirects followed): by default RTSP is interleaved over its checked TCP connection")
	verbose := fs.Bool("v", false, "log sessions and viewers")
	eventsFile := fs.String("events-file", "", "append analytics events to `FILE` as JSON Lines")
	var webhooks cli.List
	fs.Var(&webhooks, "webhook", "POST analytics events to `URL` (repeatable; retried with backoff)")
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
	if _, err := cli.TrackerSettings(s); err != nil {
		return err
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
	if *cf.workers && *cf.url == "none" {
		return cli.Usagef("serve: --workers needs NATS; drop --nats none")
	}
	if *cf.url != "none" && (*cf.replicas < 1 || *cf.replicas > 5) {
		return cli.Usagef("serve: --nats-replicas %d: want 1 to 5", *cf.replicas)
	}
	if *cf.nWorkers < 0 || *cf.nWorkers > 1024 {
		return cli.Usagef("serve: --nats-workers %d: want 0 to 1024", *cf.nWorkers)
	}
	if *cf.auth != "" && (*cf.url == "" || *cf.url == "none") {
		return cli.Usagef("serve: --nats-auth is for --nats URL; the embedded server makes its own credentials")
	}
	if *publicURL != "" {
		if *publicURL, err = web.PublicOrigin(*publicURL); err != nil {
			return cli.Usagef("serve --public-url: %v", err)
		}
	}
	cfg := web.Config{Codec: codec, UploadLimit: limit, AllowOrigins: origins, PublicURL: *publicURL,
		Sources: web.SourcePolicy{MediaRoot: s.Get("media_root"), Devices: cli.SplitList(devices),
			AllowURLs: *allowURLs, AllowPrivateURLs: *allowPrivate, AllowRTSPUDP: *rtspUDP}}
	if err := cli.Discovery(s, &cfg); err != nil {
		return err
	}
	if err := cli.SessionLimits(s, &cfg); err != nil {
		return err
	}
	cfg.Reconnect.GiveUpAfter = *lostAfter
	return cli.Serve(ctx, e, s, cli.ServeJob{Web: cfg, Mode: mode, NoStore: *noStore, Resume: resume,
		EventsFile: *eventsFile, Webhooks: webhooks, Cameras: cameras, Verbose: *verbose,
		Cluster: cli.ClusterJob{URL: *cf.url, Listen: *cf.listen, Name: *cf.name, Replicas: *cf.replicas, Workers: *cf.workers,
			AuthFile: *cf.auth, NWorkers: *cf.nWorkers}})
}

// clusterFlags are serve's NATS settings.
type clusterFlags struct {
	url, listen, name, auth *string
	workers                 *bool
	replicas, nWorkers      *int
}

func addClusterFlags(fs *cli.Flags) *clusterFlags {
	return &clusterFlags{
		url:      fs.String("nats", "", "use the NATS cluster at `URL`s (comma-separated) instead of the embedded server; \"none\": no NATS"),
		listen:   fs.String("nats-listen", "127.0.0.1:0", "where the embedded NATS server listens (`HOST:PORT`; port 0: any free one)"),
		name:     fs.String("frontend-name", "", "this front end's durable event consumer `NAME` (default the host name); each front end needs its own"),
		replicas: fs.Int("nats-replicas", 1, "replicas of the streams and buckets when this process creates them (`N`: 3 on a 3-node cluster)"),
		workers:  fs.Bool("workers", false, "hand the --cameras to `vidseg worker` processes over NATS instead of tracking them here"),
		auth:     fs.String("nats-auth", "", "credentials for --nats: a `FILE` holding user:password or a token on one line, an nkey seed or a .creds file"),
		nWorkers: fs.Int("nats-workers", 4, "worker users of the embedded NATS server (`N`): worker1..workerN, each one's credentials in workerK.auth beside the JetStream store"),
	}
}
