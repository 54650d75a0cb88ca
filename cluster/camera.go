package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/prompt"
)

// Camera is a work item: what a worker needs to run one camera.
type Camera struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Prompts are applied once, to a camera without a journal; their
	// objects are numbered 1, 2, ... in order.
	Prompts  []prompt.Prompt  `json:"prompts,omitempty"`
	Geometry *events.Geometry `json:"geometry,omitempty"`
}

// Lease says which worker tracks a camera. The leases bucket forgets it
// LeaseTTL after its last renewal.
type Lease struct {
	Worker string    `json:"worker"`
	Since  time.Time `json:"since"`
}

// Journal is what survives a camera's worker: every prompt given to it
// (the configured ones first) and its zones and lines once changed.
type Journal struct {
	Prompts  []prompt.Prompt  `json:"prompts"`
	Geometry *events.Geometry `json:"geometry,omitempty"`
}

// PutCameras makes cams the cameras to track: new ones are added, changed
// ones replaced and the others removed (their workers stop them). A
// camera's source goes into the sources bucket, which only the admin
// reads; the record every worker and relay reads has none.
func (b *Bus) PutCameras(ctx context.Context, cams []Camera) error {
	want := map[string]bool{}
	for _, c := range cams {
		if err := CheckName(c.Name); err != nil {
			return err
		}
		want[c.Name] = true
		// The source first: a worker given the record finds its source.
		if err := putChanged(ctx, b.Sources, c.Name, []byte(c.Source)); err != nil {
			return fmt.Errorf("camera %s source: %w", c.Name, err)
		}
		pub := c
		pub.Source = ""
		data, err := json.Marshal(pub)
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		if err := putChanged(ctx, b.Cameras, c.Name, data); err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
	}
	names, err := b.CameraNames(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !want[n] {
			if err := b.Cameras.Delete(ctx, n); err != nil {
				return fmt.Errorf("camera %s: %w", n, err)
			}
			if err := b.Sources.Delete(ctx, n); err != nil {
				return fmt.Errorf("camera %s source: %w", n, err)
			}
		}
	}
	return nil
}

// MoveSources moves the source out of every camera record that still
// has one (put by an older vidseg, or by hand) into the sources bucket,
// where workers and relays cannot read it.
func (b *Bus) MoveSources(ctx context.Context) error {
	names, err := b.CameraNames(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		e, err := b.Cameras.Get(ctx, n)
		if err != nil {
			continue // removed meanwhile
		}
		var c Camera
		if json.Unmarshal(e.Value(), &c) != nil || c.Source == "" {
			continue
		}
		if _, err := b.Sources.Put(ctx, n, []byte(c.Source)); err != nil {
			return fmt.Errorf("camera %s source: %w", n, err)
		}
		c.Source = ""
		data, _ := json.Marshal(c)
		// Only the record as read: one rewritten meanwhile is its writer's.
		if _, err := b.Cameras.Update(ctx, n, data, e.Revision()); err != nil && !isWrongLastSeq(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("camera %s: %w", n, err)
		}
	}
	return nil
}

// putChanged writes key unless it already holds data.
func putChanged(ctx context.Context, kv jetstream.KeyValue, key string, data []byte) error {
	if e, err := kv.Get(ctx, key); err == nil && string(e.Value()) == string(data) {
		return nil
	}
	_, err := kv.Put(ctx, key, data)
	return err
}

// CameraNames lists the cameras to track.
func (b *Bus) CameraNames(ctx context.Context) ([]string, error) {
	keys, err := b.Cameras.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cameras: %w", err)
	}
	return keys, nil
}

// Camera reads one camera's record, without its source.
func (b *Bus) Camera(ctx context.Context, name string) (Camera, error) {
	var c Camera
	e, err := b.Cameras.Get(ctx, name)
	if err != nil {
		return c, fmt.Errorf("camera %s: %w", name, err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return c, fmt.Errorf("camera %s: %w", name, err)
	}
	c.Name = name
	return c, nil
}

// CameraWithSource reads one camera's record and its source from the
// sources bucket (a record put by hand with its source in it, as
// before the sources bucket, keeps that one); only the admin may.
func (b *Bus) CameraWithSource(ctx context.Context, name string) (Camera, error) {
	c, err := b.Camera(ctx, name)
	if err != nil {
		return c, err
	}
	e, err := b.Sources.Get(ctx, name)
	switch {
	case err == nil && len(e.Value()) > 0:
		c.Source = string(e.Value())
	case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
	default:
		return c, fmt.Errorf("camera %s source: %w", name, err)
	}
	return c, nil
}

// Owner says which worker holds camera's lease ("" when none).
func (b *Bus) Owner(ctx context.Context, camera string) (Lease, error) {
	var l Lease
	e, err := b.Leases.Get(ctx, camera)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("lease %s: %w", camera, err)
	}
	err = json.Unmarshal(e.Value(), &l)
	return l, err
}

// journal reads camera's journal and its revision (0, nil when none).
func (b *Bus) journal(ctx context.Context, camera string) (*Journal, uint64, error) {
	e, err := b.Journal.Get(ctx, camera)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal %s: %w", camera, err)
	}
	var j Journal
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return nil, 0, fmt.Errorf("journal %s: %w", camera, err)
	}
	return &j, e.Revision(), nil
}
