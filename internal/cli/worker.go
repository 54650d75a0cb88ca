package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vidseg/vidseg/cluster"
	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/tracker"
)

// WorkerJob is one `vidseg worker` run, its flags checked.
type WorkerJob struct {
	NATS      string // the cluster's URLs
	AuthFile  string // credentials (cluster.Options.AuthFile)
	ID        string // this worker's name in leases and results; "": its NATS user, else host-pid
	Capacity  int
	LeaseTTL  time.Duration
	Replicas  int
	Sources   source.Policy
	Threshold float64 // object score logit for events
	Frames    int     // model frames that confirm an event
	Mode      tracker.Mode
	Verbose   bool
}

// Worker connects to NATS, opens the model and tracks up to j.Capacity of
// the cluster's cameras as sessions of a session.Manager (no HTTP server)
// until ctx ends.
func Worker(ctx context.Context, e *Env, s *Settings, j WorkerJob) error {
	log := NewLogger(e.Stderr, j.Verbose)
	bus, err := cluster.Connect(ctx, j.NATS, cluster.Options{Name: "vidseg worker", LeaseTTL: j.LeaseTTL, Replicas: j.Replicas,
		AuthFile: j.AuthFile, OnError: func(err error) { log.Warn("worker: nats", "err", err) }})
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer bus.Close()
	switch {
	case j.ID == "" && bus.User != "":
		// The embedded server lets a worker announce itself only under
		// its user's name.
		j.ID = bus.User
	case j.ID == "":
		host, _ := os.Hostname()
		j.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log = log.With("worker", j.ID)
	if bus.User != "" && j.ID != bus.User {
		// The embedded server's coordinator knows a worker by its user:
		// lease requests under another name are refused.
		log.Warn("worker: --id is not this worker's NATS user; with vidseg serve's NATS it takes no camera", "user", bus.User)
	}

	lm, err := OpenModel(s, e.Stderr, log)
	if err != nil {
		return err
	}
	defer lm.Close()

	w := &cluster.Worker{ID: j.ID, Capacity: j.Capacity, Bus: bus, Log: log}
	pub := cluster.NewEventPublisher(bus, log, w.LostCamera)
	defer pub.Close()
	w.Events = pub

	cfg := session.Config{Logger: log, MaxSessions: j.Capacity, EventSinks: []events.Sink{pub}, Sources: j.Sources}
	cfg.Analytics.Threshold, cfg.Analytics.Frames = float32(j.Threshold), j.Frames
	tune, err := TrackerSettings(s)
	if err != nil {
		return err
	}
	cfg = session.ModelTrackers(cfg, sam.NewScheduler(lm.Model), j.Mode, tune)
	cfg.NewTracker = cluster.Trackers(bus, pub, j.ID, log, cfg.NewTracker)
	sessions, err := session.New(cfg)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer sessions.Close()
	w.Run = cluster.SessionRunner{Sessions: sessions}

	fmt.Fprintf(e.Stderr, "vidseg: worker %s ready (capacity %d, nats %s)\n", j.ID, j.Capacity, cluster.RedactURL(bus.NC.ConnectedUrl()))
	err = w.Serve(ctx)
	fmt.Fprintf(e.Stderr, "vidseg: worker %s: stopped\n", j.ID)
	return err
}
