package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/vidseg/vidseg/cluster"
	"github.com/vidseg/vidseg/internal/camera"
	"github.com/vidseg/vidseg/web"
)

// ClusterJob is serve's NATS settings, checked.
type ClusterJob struct {
	URL      string // the cluster's URLs; "": start the embedded server; "none": no NATS
	Listen   string // where the embedded server listens
	Name     string // this front end's durable event consumer; "": the host name
	Replicas int
	Workers  bool // hand the cameras to workers
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
// dir) unless j.URL names one, connects, relays workers' events into
// srv's /api/events and adds the cluster routes. Nil with URL "none".
func startCluster(ctx context.Context, e *Env, j ClusterJob, dir string, srv *web.Server, log *slog.Logger) (*clusterNode, error) {
	url := j.URL
	if url == "none" {
		return nil, nil
	}
	n := &clusterNode{done: make(chan struct{})}
	if url == "" {
		t0 := time.Now()
		o := cluster.EmbeddedOptions{Dir: dir, Addr: j.Listen}
		if host, _, err := net.SplitHostPort(o.Addr); err == nil && !web.LoopbackHost(host) {
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
	bus, err := cluster.Connect(ctx, url, cluster.Options{Name: "vidseg serve", Replicas: j.Replicas})
	if err != nil {
		if n.emb != nil {
			n.emb.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	n.bus = bus
	name := j.Name
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

// natsDir is where the embedded server keeps JetStream: beside the store.
func natsDir(s *Settings, noStore bool) (string, error) {
	return dataDir(s, noStore, "nats", "NATS directory")
}

// clusterCameras converts the cameras file for workers.
func clusterCameras(cams []camera.Config) ([]cluster.Camera, error) {
	out := make([]cluster.Camera, 0, len(cams))
	for _, c := range cams {
		if err := cluster.CheckName(c.Name); err != nil {
			return nil, InputErr(fmt.Errorf("serve --cameras --workers: %w", err))
		}
		geo, ps := c.Spec()
		out = append(out, cluster.Camera{Name: c.Name, Source: c.Source, Geometry: geo, Prompts: ps})
	}
	return out, nil
}
