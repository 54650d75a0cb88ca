package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrLeaseLost says a lease is not (or no longer) the worker's: it
// expired, or another worker holds it.
var ErrLeaseLost = errors.New("lease lost")

// LeaseSubject is where worker asks the coordinator for op ("take",
// "renew", "release") on a lease: its own subjects, which its NATS user
// alone may publish on, so the coordinator knows who asks.
func LeaseSubject(worker, op string) string { return "vidseg.lease." + worker + "." + op }

// LeaseRequest asks the coordinator about one camera's lease.
type LeaseRequest struct {
	Camera string    `json:"camera"`
	Rev    uint64    `json:"rev,omitempty"` // the revision the worker last wrote (renew)
	Since  time.Time `json:"since,omitzero"`
}

// LeaseReply is the coordinator's answer: the lease's new revision and,
// on take, the camera with its source (which the worker can read nowhere
// else).
type LeaseReply struct {
	Rev    uint64  `json:"rev,omitempty"`
	Camera *Camera `json:"camera,omitempty"`
	Lost   bool    `json:"lost,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// maxLeaseRequest bounds a lease request (a camera name and two numbers).
const maxLeaseRequest = 1 << 10

// leaser takes, renews and gives back a worker's leases.
type leaser struct {
	bus    *Bus
	worker string
}

// take leases camera when it is free and returns the lease's revision
// and the camera with its source. Through the coordinator when one
// answers; else (a cluster without one: an external NATS whose operator
// set the permissions) by writing the leases bucket directly.
func (l leaser) take(ctx context.Context, camera string, since time.Time) (uint64, Camera, error) {
	rep, err := l.ask(ctx, "take", LeaseRequest{Camera: camera, Since: since})
	if errors.Is(err, nats.ErrNoResponders) {
		rev, err := l.bus.Leases.Create(ctx, camera, leaseValue(l.worker, since))
		if err != nil {
			return 0, Camera{}, err
		}
		c, err := l.bus.CameraWithSource(ctx, camera)
		if err != nil {
			_ = l.bus.Leases.Delete(ctx, camera, jetstream.LastRevision(rev))
			return 0, Camera{}, err
		}
		return rev, c, nil
	}
	if err != nil {
		return 0, Camera{}, err
	}
	if rep.Camera == nil || rep.Camera.Name != camera {
		return 0, Camera{}, fmt.Errorf("lease %s: the coordinator's answer has no camera", camera)
	}
	return rep.Rev, *rep.Camera, nil
}

// renew extends the lease last written at rev and returns its new
// revision; ErrLeaseLost when it is no longer this worker's.
func (l leaser) renew(ctx context.Context, camera string, since time.Time, rev uint64) (uint64, error) {
	rep, err := l.ask(ctx, "renew", LeaseRequest{Camera: camera, Rev: rev, Since: since})
	if errors.Is(err, nats.ErrNoResponders) {
		rev, err := l.bus.Leases.Update(ctx, camera, leaseValue(l.worker, since), rev)
		if isWrongLastSeq(err) {
			err = fmt.Errorf("lease %s: %w (%w)", camera, ErrLeaseLost, err)
		}
		return rev, err
	}
	if err != nil {
		return 0, err
	}
	return rep.Rev, nil
}

// release gives the lease back if it is still this worker's.
func (l leaser) release(ctx context.Context, camera string, rev uint64) error {
	_, err := l.ask(ctx, "release", LeaseRequest{Camera: camera, Rev: rev})
	if !errors.Is(err, nats.ErrNoResponders) {
		return err
	}
	if err := l.bus.Leases.Delete(ctx, camera, jetstream.LastRevision(rev)); err != nil {
		// A renewal in flight moved the revision: delete the lease if it
		// is still this worker's.
		e, gerr := l.bus.Leases.Get(ctx, camera)
		if gerr != nil {
			return err
		}
		var ls Lease
		if json.Unmarshal(e.Value(), &ls) != nil || ls.Worker != l.worker {
			return err
		}
		return l.bus.Leases.Delete(ctx, camera, jetstream.LastRevision(e.Revision()))
	}
	return nil
}

// ask sends a lease request to the coordinator; nats.ErrNoResponders
// when there is none.
func (l leaser) ask(ctx context.Context, op string, req LeaseRequest) (LeaseReply, error) {
	var rep LeaseReply
	data, _ := json.Marshal(req)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	m, err := l.bus.NC.RequestWithContext(ctx, LeaseSubject(l.worker, op), data)
	if err != nil {
		return rep, fmt.Errorf("lease %s: %s: %w", req.Camera, op, err)
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return rep, fmt.Errorf("lease %s: %s: the coordinator's answer: %w", req.Camera, op, err)
	}
	switch {
	case rep.Lost:
		return rep, fmt.Errorf("lease %s: %w: %s", req.Camera, ErrLeaseLost, rep.Error)
	case rep.Error != "":
		return rep, fmt.Errorf("lease %s: %s: %s", req.Camera, op, rep.Error)
	}
	return rep, nil
}

func leaseValue(worker string, since time.Time) []byte {
	data, _ := json.Marshal(Lease{Worker: worker, Since: since.UTC()})
	return data
}

// Coordinator writes the leases for the workers of an embedded server:
// a worker asks on its own subjects (LeaseSubject), so it can take a
// free camera, renew or give back only its own leases, never write
// another's. As a lease moves, Grant gives its holder the permissions
// of that camera (its subjects and journal, Embedded.SetGrants) and
// takes them from the last; a taken lease's reply carries the camera's
// source, which workers cannot read otherwise.
type Coordinator struct {
	Bus   *Bus // as the admin
	Grant func(map[string][]string) error
	Log   *slog.Logger

	holders map[string]string // camera -> worker, as last granted; only Start's goroutine
}

// Start subscribes to the lease requests and answers them until ctx
// ends (done is closed then); it also takes the permissions of expired
// leases back, every half lease TTL. Workers may ask once it returns.
func (c *Coordinator) Start(ctx context.Context) (done <-chan struct{}, err error) {
	reqs := make(chan *nats.Msg, 256)
	sub, err := c.Bus.NC.ChanQueueSubscribe(LeaseSubject("*", "*"), "vidseg-coordinator", reqs)
	if err != nil {
		return nil, fmt.Errorf("nats: coordinator: %w", err)
	}
	if err := c.Bus.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("nats: coordinator: %w", err)
	}
	c.sync(ctx)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer sub.Unsubscribe()
		t := time.NewTicker(c.Bus.LeaseTTL / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-reqs:
				c.handle(ctx, m)
			case <-t.C:
				c.sync(ctx)
			}
		}
	}()
	return ch, nil
}

// handle answers one lease request.
func (c *Coordinator) handle(ctx context.Context, m *nats.Msg) {
	rep := c.answer(ctx, m.Subject, m.Data)
	data, _ := json.Marshal(rep)
	if m.Reply != "" {
		_ = m.Respond(data)
	}
}

// answer is handle's reply to a request on subject with body data.
func (c *Coordinator) answer(ctx context.Context, subject string, data []byte) LeaseReply {
	worker, op, ok := parseLeaseSubject(subject)
	if !ok {
		return LeaseReply{Error: "not a lease subject"}
	}
	var req LeaseRequest
	if len(data) > maxLeaseRequest {
		return LeaseReply{Error: fmt.Sprintf("request over %d bytes", maxLeaseRequest)}
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return LeaseReply{Error: fmt.Sprintf("request: %v", err)}
	}
	if err := CheckName(req.Camera); err != nil {
		return LeaseReply{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch op {
	case "take":
		cam, err := c.Bus.CameraWithSource(ctx, req.Camera)
		if err != nil {
			return LeaseReply{Error: "no such camera"}
		}
		rev, err := c.Bus.Leases.Create(ctx, req.Camera, leaseValue(worker, time.Now()))
		if err != nil {
			return LeaseReply{Lost: true, Error: "held by another worker"}
		}
		// The holder's permissions before the answer: its first publish
		// for the camera is allowed.
		c.moved(req.Camera, worker)
		return LeaseReply{Rev: rev, Camera: &cam}
	case "renew", "release":
		e, err := c.Bus.Leases.Get(ctx, req.Camera)
		var l Lease
		if err != nil || json.Unmarshal(e.Value(), &l) != nil || l.Worker != worker ||
			(op == "renew" && e.Revision() != req.Rev) {
			return LeaseReply{Lost: true, Error: "not this worker's"}
		}
		if op == "release" {
			if err := c.Bus.Leases.Delete(ctx, req.Camera, jetstream.LastRevision(e.Revision())); err != nil {
				return LeaseReply{Error: "not released; it expires"}
			}
			c.moved(req.Camera, "")
			return LeaseReply{}
		}
		since := req.Since
		if since.IsZero() || since.After(time.Now()) {
			since = l.Since
		}
		rev, err := c.Bus.Leases.Update(ctx, req.Camera, leaseValue(worker, since), req.Rev)
		if isWrongLastSeq(err) {
			return LeaseReply{Lost: true, Error: "moved on"}
		}
		if err != nil {
			return LeaseReply{Error: "not renewed; retry"}
		}
		return LeaseReply{Rev: rev}
	}
	return LeaseReply{Error: fmt.Sprintf("no operation %q", op)}
}

// parseLeaseSubject splits vidseg.lease.WORKER.OP.
func parseLeaseSubject(s string) (worker, op string, ok bool) {
	rest, ok := strings.CutPrefix(s, "vidseg.lease.")
	if !ok {
		return "", "", false
	}
	worker, op, ok = strings.Cut(rest, ".")
	if !ok || !workerNameRE.MatchString(worker) || strings.Contains(op, ".") {
		return "", "", false
	}
	return worker, op, true
}

// sync grants each worker the cameras whose leases it holds, as the
// leases bucket has them now (an expired lease is gone from it).
func (c *Coordinator) sync(ctx context.Context) {
	if c.Grant == nil {
		return
	}
	keys, err := c.Bus.Leases.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		c.Log.Warn("coordinator: leases not listed; permissions unchanged", "err", err)
		return
	}
	holders := map[string]string{}
	for _, k := range keys {
		e, err := c.Bus.Leases.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		var l Lease
		if json.Unmarshal(e.Value(), &l) == nil && l.Worker != "" {
			holders[k] = l.Worker
		}
	}
	c.holders = holders
	c.grant()
}

// moved records that camera's lease is now worker's ("" given back) and
// grants at once, without listing every lease again.
func (c *Coordinator) moved(camera, worker string) {
	if c.Grant == nil {
		return
	}
	if c.holders == nil {
		c.holders = map[string]string{}
	}
	if worker == "" {
		delete(c.holders, camera)
	} else {
		c.holders[camera] = worker
	}
	c.grant()
}

func (c *Coordinator) grant() {
	grants := map[string][]string{}
	for cam, w := range c.holders {
		grants[w] = append(grants[w], cam)
	}
	if err := c.Grant(grants); err != nil {
		c.Log.Error("coordinator: permissions not updated", "err", err)
	}
}
