package main

import (
	"context"
	"regexp"
	"time"

	"github.com/vidseg/vidseg/cluster"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

func runWorker(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "worker", "vidseg worker --nats URL [--capacity N] [--model DIR] [--media-root DIR]...",
		`Tracks cameras for a cluster: takes up to --capacity cameras that the
front end (`+"`vidseg serve --cameras FILE --workers`"+`) put into NATS JetStream,
each under a lease renewed four times per --lease-ttl; publishes each tracked frame on
vidseg.<camera>.results and analytics events on vidseg.<camera>.events;
answers the prompts the front end forwards for its cameras.

A worker killed (even kill -9) loses its leases after --lease-ttl: another
worker takes its cameras, replays their journaled prompts on its first frame
and numbers their events after the last one stored. docs/scale-out.md has
the topology.`,
		`  vidseg worker --nats nats://10.0.0.5:4222 --nats-auth nats/worker1.auth --capacity 4 --model models/sam2.1_hiera_t --media-root /srv/videos
  vidseg worker --nats nats://n1:4222,nats://n2:4222,nats://n3:4222 --provider cuda --allow-urls --allow-private-urls`)
	cli.ConfigFlag(fs)
	s.Flag(fs, "model", "ort_lib", "provider", "threads", "attention", "matmul", "resident", "mode", "corrections_as_cond", "fill_holes", "media_root")
	natsURL := fs.String("nats", "", "NATS server `URL`s, comma-separated (the front end prints its embedded one); nats://user:pass@host or nats://token@host carry credentials")
	natsAuth := fs.String("nats-auth", "", "credentials: a `FILE` holding user:password or a token on one line (the front end writes workerK.auth beside its store), an nkey seed or a .creds file")
	capacity := fs.Int("capacity", 1, "track at most `N` cameras at once")
	id := fs.String("id", "", "this worker's `NAME` in leases and results (default its NATS user, else host-pid)")
	ttl := fs.Duration("lease-ttl", cluster.DefaultLeaseTTL, "a camera moves to another worker this `long` after its worker stopped renewing its lease (set when the leases bucket is created)")
	replicas := fs.Int("nats-replicas", 1, "replicas of the streams and buckets when this process creates them (`N`: 3 on a 3-node cluster)")
	allowURLs := fs.Bool("allow-urls", false, "let cameras be http(s):// and rtsp:// URLs")
	allowPrivate := fs.Bool("allow-private-urls", false, "let camera URLs reach loopback, private, link-local and metadata addresses")
	threshold := fs.Float64("event-threshold", 0, "object score `LOGIT` above which an object counts as present for events (margin 0.5 either side)")
	frames := fs.Int("event-frames", 3, "consecutive model frames (`N`) that confirm an event")
	verbose := fs.Bool("v", false, "log cameras taken and released")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return cli.Usagef("worker takes no arguments, got %q", pos)
	case *natsURL == "":
		return cli.Usagef("worker: --nats URL is required (the URL `vidseg serve` prints)")
	case *capacity < 1 || *capacity > 256:
		return cli.Usagef("worker: --capacity %d: want 1 to 256", *capacity)
	case *replicas < 1 || *replicas > 5:
		return cli.Usagef("worker: --nats-replicas %d: want 1 to 5", *replicas)
	case *frames < 1:
		return cli.Usagef("worker: --event-frames %d: want at least 1", *frames)
	case *ttl < time.Second:
		return cli.Usagef("worker: --lease-ttl %v: want at least 1s", *ttl)
	}
	*id = regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(*id, "_")
	mode, err := tracker.ParseMode(s.Get("mode"))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	return cli.Worker(ctx, e, s, cli.WorkerJob{NATS: *natsURL, AuthFile: *natsAuth, ID: *id, Capacity: *capacity, LeaseTTL: *ttl, Replicas: *replicas,
		Sources:   web.SourcePolicy{MediaRoot: s.Get("media_root"), AllowURLs: *allowURLs, AllowPrivateURLs: *allowPrivate},
		Threshold: *threshold, Frames: *frames, Mode: mode, Verbose: *verbose})
}
