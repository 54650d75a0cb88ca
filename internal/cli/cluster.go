package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	Workers  bool   // hand the cameras to workers
	AuthFile string // credentials for URL (Options.AuthFile)
	// NWorkers is how many worker users the embedded server has
	// (worker1..workerN, credentials in DIR/workerK.auth).
	NWorkers int
}

// clusterNode is serve's part of a cluster: the embedded server (if any),
// the connection and the relay of workers' events and results.
type clusterNode struct {
	emb   *cluster.Embedded
	bus   *cluster.Bus // as the admin with the embedded server
	relay *cluster.Bus // read-only with the embedded server; bus otherwise
	stop  context.CancelFunc
	done  chan struct{}
}

func (n *clusterNode) Close() {
	if n == nil {
		return
	}
	n.stop()
	<-n.done
	if n.relay != n.bus {
		_ = n.relay.Close()
	}
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
	o := cluster.Options{Name: "vidseg serve", Replicas: j.Replicas, AuthFile: j.AuthFile,
		OnError: func(err error) { log.Warn("serve: nats", "err", err) }}
	ro := o
	if url == "" {
		t0 := time.Now()
		// Every client authenticates, on loopback too; the credentials
		// stay beside the JetStream store so that workers reconnect after
		// a restart.
		var names []string
		for i := range j.NWorkers {
			names = append(names, fmt.Sprintf("worker%d", i+1))
		}
		auth, err := cluster.LoadOrCreateAuth(filepath.Join(dir, "users.json"), names)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		emb, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Dir: dir, Addr: j.Listen, Auth: auth})
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		n.emb, url = emb, emb.URL()
		o, ro = emb.Admin(o), emb.Relay(o)
		ro.Name = "vidseg serve relay"
		log.Info("serve: embedded NATS started", "url", url, "took", time.Since(t0))
	}
	fail := func(err error) (*clusterNode, error) {
		if n.relay != nil && n.relay != n.bus {
			n.relay.Close()
		}
		if n.bus != nil {
			n.bus.Close()
		}
		if n.emb != nil {
			n.emb.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	bus, err := cluster.Connect(ctx, url, o)
	if err != nil {
		return fail(err)
	}
	n.bus, n.relay = bus, bus
	if n.emb != nil {
		if n.relay, err = cluster.Connect(ctx, url, ro); err != nil {
			return fail(err)
		}
	}
	name := j.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	name = "frontend_" + regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(name, "_")
	relay := &cluster.Relay{Bus: n.relay, Durable: name, Publish: srv.PublishEvents, Log: log}
	relay.Routes(srv.Handle)
	rctx, stop := context.WithCancel(ctx)
	var coordDone <-chan struct{} // nil: no coordinator
	if n.emb != nil {
		if err := bus.MoveSources(ctx); err != nil {
			stop()
			return fail(err)
		}
		// Workers of the embedded server write no lease themselves: they
		// ask this front end, which gives each the permissions (and the
		// source) of the cameras it holds.
		coord := &cluster.Coordinator{Bus: bus, Grant: n.emb.SetGrants, Log: log}
		if coordDone, err = coord.Start(rctx); err != nil {
			stop()
			return fail(err)
		}
	}
	n.stop = stop
	go func() {
		defer close(n.done)
		if err := relay.RunEvents(rctx); err != nil {
			log.Error("serve: workers' events not relayed", "err", err)
		}
		if coordDone != nil {
			<-coordDone
		}
	}()
	if n.emb != nil {
		fmt.Fprintf(e.Stderr, "vidseg: nats on %s (users only; workers' credentials in %s)\n", url, filepath.Join(dir, "worker*.auth"))
	} else {
		fmt.Fprintf(e.Stderr, "vidseg: nats on %s\n", cluster.RedactURL(url)) // the operator knows the credentials
	}
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
