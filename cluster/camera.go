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
// ones replaced and the others removed (their workers stop them).
func (b *Bus) PutCameras(ctx context.Context, cams []Camera) error {
	want := map[string]bool{}
	for _, c := range cams {
		if err := CheckName(c.Name); err != nil {
			return err
		}
		want[c.Name] = true
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		if e, err := b.Cameras.Get(ctx, c.Name); err == nil && string(e.Value()) == string(data) {
			continue
		}
		if _, err := b.Cameras.Put(ctx, c.Name, data); err != nil {
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
		}
	}
	return nil
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

// Camera reads one camera's record.
func (b *Bus) Camera(ctx context.Context, name string) (Camera, error) {
	var c Camera
	e, err := b.Cameras.Get(ctx, name)
	if err != nil {
		return c, fmt.Errorf("camera %s: %w", name, err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return c, fmt.Errorf("camera %s: %w", name, err)
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
