package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/vidseg/vidseg/cluster"
	"github.com/vidseg/vidseg/internal/camera"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/web"
)

// clusterFlags are serve's NATS settings.
type clusterFlags struct {
	url, listen, name *string
	workers           *bool
	replicas          *int
}

func addClusterFlags(fs *cli.Flags) *clusterFlags {
	return &clusterFlags{
		url:      fs.String("nats", "", "use the NATS cluster at `URL`s (comma-separated) instead of the embedded server; \"none\": no NATS"),
		listen:   fs.String("nats-listen", "127.0.0.1:0", "where the embedded NATS server listens (`HOST:PORT`; port 0: any free one)"),
		name:     fs.String("frontend-name", "", "this front end's durable event consumer `NAME` (default the host name); each front end needs its own"),
		replicas: fs.Int("nats-replicas", 1, "replicas of the streams and buckets when this process creates them (`N`: 3 on a 3-node cluster)"),
		workers:  fs.Bool("workers", false, "hand the --cameras to `vidseg worker` processes over NATS instead of tracking them here"),
	}
}

// clusterNode is serve's part of a cluster: the embedded server (if any),
// the connection and the relay of workers' events and results.
type clusterNode struct {
	emb  *cluster.Embedded
	bus  *cluster.Bus
	stop context.CancelFunc
	done chan struct{}
}

func (n *clusterNode) Close() {
	if n == nil {
		return
	}
	n.stop()
	<-n.done
	_ = n.bus.Close()
	if n.emb != nil {
		n.emb.Close()
	}
}

// startCluster starts the embedded NATS server (its JetStream store in
// dir) unless --nats names one, connects, relays workers' events into
// srv's /api/events and adds the cluster routes. Nil with --nats none.
func (cf *clusterFlags) start(ctx context.Context, e *cli.Env, dir string, srv *web.Server, log *slog.Logger) (*clusterNode, error) {
	url := *cf.url
	if url == "none" {
		if *cf.workers {
			return nil, cli.Usagef("serve: --workers needs NATS; drop --nats none")
		}
		return nil, nil
	}
	if *cf.replicas < 1 || *cf.replicas > 5 {
		return nil, cli.Usagef("serve: --nats-replicas %d: want 1 to 5", *cf.replicas)
	}
	n := &clusterNode{done: make(chan struct{})}
	if url == "" {
		t0 := time.Now()
		o := cluster.EmbeddedOptions{Dir: dir, Addr: *cf.listen}
		if host, _, err := net.SplitHostPort(o.Addr); err == nil && !loopbackHost(host) {
			// Workers on other machines reach it: like the web app off
			// loopback, it takes a token (in the URL printed below).
			o.Token = web.NewToken()
		}
		emb, err := cluster.StartEmbedded(o)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		n.emb, url = emb, emb.URL()
		log.Info("serve: embedded NATS started", "url", url, "took", time.Since(t0))
	}
	bus, err := cluster.Connect(ctx, url, cluster.Options{Name: "vidseg serve", Replicas: *cf.replicas})
	if err != nil {
		if n.emb != nil {
			n.emb.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	n.bus = bus
	name := *cf.name
	if name == "" {
		name, _ = os.Hostname()
	}
	name = "frontend_" + regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(name, "_")
	relay := &cluster.Relay{Bus: bus, Durable: name, Publish: srv.PublishEvents, Log: log}
	relay.Routes(srv.Handle)
	rctx, stop := context.WithCancel(ctx)
	n.stop = stop
	go func() {
		defer close(n.done)
		if err := relay.RunEvents(rctx); err != nil {
			log.Error("serve: workers' events not relayed", "err", err)
		}
	}()
	if n.emb == nil {
		url = bus.NC.ConnectedUrlRedacted() // the operator knows the credentials
	}
	fmt.Fprintf(e.Stderr, "vidseg: nats on %s\n", url)
	return n, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// natsDir is where the embedded server keeps JetStream: beside the store.
func natsDir(s *cli.Settings, noStore bool) (string, error) {
	if noStore {
		return os.MkdirTemp("", "vidseg-nats-")
	}
	dir := filepath.Join(filepath.Dir(s.Get("store")), "nats")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("serve: NATS directory: %w", err)
	}
	return dir, nil
}

// clusterCameras converts the cameras file for workers.
func clusterCameras(cams []camera.Config) ([]cluster.Camera, error) {
	out := make([]cluster.Camera, 0, len(cams))
	for _, c := range cams {
		if err := cluster.CheckName(c.Name); err != nil {
			return nil, cli.InputErr(fmt.Errorf("serve --cameras --workers: %w", err))
		}
		geo, ps := c.Spec()
		out = append(out, cluster.Camera{Name: c.Name, Source: c.Source, Geometry: geo, Prompts: ps})
	}
	return out, nil
}
