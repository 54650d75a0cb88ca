// Package camera runs the cameras of `vidseg serve --cameras FILE`: it
// reads and checks the file, and keeps each camera's session running,
// resuming its journal and restarting it with backoff when its source
// fails.
package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/store"
)

// file is serve --cameras: the cameras to run from launch.
//
//	cameras:
//	  - name: door
//	    source: rtsp://192.0.2.10/stream1
//	    prompts:                 # optional, applied once on a new camera
//	      - points: [[320, 240]] # positive clicks, source pixels
//	      - box: [100, 80, 200, 220]
//	    zones:
//	      - name: entry
//	        polygon: [[0, 0], [300, 0], [300, 200], [0, 200]]
//	        dwell: 10s
//	    lines:
//	      - name: gate
//	        a: [160, 0]
//	        b: [160, 240]
type file struct {
	Cameras []Config `yaml:"cameras"`
}

// Config is one camera of the file.
type Config struct {
	Name    string   `yaml:"name"`
	Source  string   `yaml:"source"`
	Prompts []Prompt `yaml:"prompts"`
	Zones   []struct {
		Name    string       `yaml:"name"`
		Polygon [][2]float64 `yaml:"polygon"`
		Dwell   string       `yaml:"dwell"`
	} `yaml:"zones"`
	Lines []struct {
		Name string     `yaml:"name"`
		A    [2]float64 `yaml:"a"`
		B    [2]float64 `yaml:"b"`
	} `yaml:"lines"`
}

// Prompt is a configured prompt: positive clicks and/or a box.
type Prompt struct {
	Points [][2]float32 `yaml:"points"`
	Box    []float32    `yaml:"box"`
}

// maxCameras bounds a cameras file.
const maxCameras = 64

// Load reads and checks a cameras file; every error is the file's.
func Load(path string) ([]Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve --cameras: %w", err)
	}
	var cf file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("serve --cameras %s: %w", path, err)
	}
	if len(cf.Cameras) == 0 {
		return nil, fmt.Errorf("serve --cameras %s: no cameras (want a \"cameras:\" list of {name, source})", path)
	}
	if len(cf.Cameras) > maxCameras {
		return nil, fmt.Errorf("serve --cameras %s: %d cameras, at most %d", path, len(cf.Cameras), maxCameras)
	}
	seen := map[string]bool{}
	for i, c := range cf.Cameras {
		where := fmt.Sprintf("serve --cameras %s: camera %d", path, i+1)
		switch {
		case strings.TrimSpace(c.Name) == "":
			return nil, fmt.Errorf("%s: no name", where)
		case seen[c.Name]:
			return nil, fmt.Errorf("%s: name %q used twice", where, c.Name)
		case strings.TrimSpace(c.Source) == "":
			return nil, fmt.Errorf("%s (%s): no source", where, c.Name)
		}
		seen[c.Name] = true
		if _, err := c.geometry(); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, c.Name, err)
		}
		for j, p := range c.Prompts {
			if _, err := p.prompt(); err != nil {
				return nil, fmt.Errorf("%s (%s): prompt %d: %w", where, c.Name, j+1, err)
			}
		}
	}
	return cf.Cameras, nil
}

func (c Config) geometry() (*events.Geometry, error) {
	g := &events.Geometry{Zones: []events.Zone{}, Lines: []events.Line{}}
	for _, z := range c.Zones {
		ez := events.Zone{Name: z.Name}
		for _, p := range z.Polygon {
			ez.Polygon = append(ez.Polygon, events.Point{X: p[0], Y: p[1]})
		}
		if z.Dwell != "" {
			d, err := time.ParseDuration(z.Dwell)
			if err != nil {
				return nil, fmt.Errorf("zone %q dwell: %w", z.Name, err)
			}
			ez.DwellMs = float64(d.Milliseconds())
		}
		g.Zones = append(g.Zones, ez)
	}
	for _, l := range c.Lines {
		g.Lines = append(g.Lines, events.Line{Name: l.Name, A: events.Point{X: l.A[0], Y: l.A[1]}, B: events.Point{X: l.B[0], Y: l.B[1]}})
	}
	return g, g.Validate(0, 0)
}

func (p Prompt) prompt() (prompt.Prompt, error) {
	var tp prompt.Prompt
	for _, pt := range p.Points {
		tp.Points = append(tp.Points, prompt.Point{X: pt[0], Y: pt[1], Positive: true})
	}
	switch len(p.Box) {
	case 0:
	case 4:
		tp.Box = &mask.Box{X0: p.Box[0], Y0: p.Box[1], X1: p.Box[2], Y1: p.Box[3]}
	default:
		return tp, fmt.Errorf("box has %d numbers, want 4 (x0, y0, x1, y1)", len(p.Box))
	}
	if len(tp.Points) == 0 && tp.Box == nil {
		return tp, errors.New("no points or box")
	}
	return tp, nil
}

// storedCamera finds the journaled session of a camera ("" if none).
func storedCamera(st *store.Store, name string) (string, error) {
	if st == nil {
		return "", nil
	}
	list, err := st.List()
	var bad *store.UnreadableError
	if err != nil && !errors.As(err, &bad) {
		return "", err
	}
	for _, info := range list { // most recently updated first
		if info.Meta["camera"] == name {
			return info.ID, nil
		}
	}
	return "", nil
}

// Run keeps one camera running until ctx ends: it opens the
// session (resuming its journal: objects, zones, event numbering), applies
// the configured prompts to a new camera, and restarts it with backoff
// whenever it cannot open or its source ends or is lost.
func Run(ctx context.Context, srv *session.Manager, st *store.Store, withModel bool, c Config, log *slog.Logger) {
	geo, _ := c.geometry() // checked by Load
	backoff := time.Second
	for ctx.Err() == nil {
		id, err := storedCamera(st, c.Name)
		if err != nil {
			log.Error("serve: camera journal", "camera", c.Name, "err", err)
		}
		spec := session.CameraSpec{Name: c.Name, Source: c.Source, Geometry: geo}
		if id != "" && withModel {
			spec.ResumeID = id
		}
		ss, err := srv.OpenCamera(ctx, spec)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("serve: camera not started; retrying", "camera", c.Name, "err", err, "in", backoff)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		log.Info("serve: camera started", "camera", c.Name, "session", ss.ID, "resumed", id != "")
		if id == "" && withModel {
			applyCameraPrompts(ctx, ss, c, log)
		}
		started := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-ss.Ended():
		}
		log.Warn("serve: camera stopped; restarting", "camera", c.Name, "state", ss.State())
		srv.Remove(ss.ID)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// applyCameraPrompts prompts a new camera's objects once the model has a frame.
func applyCameraPrompts(ctx context.Context, ss *session.Session, c Config, log *slog.Logger) {
	for i, cp := range c.Prompts {
		p, _ := cp.prompt()
		if _, err := ss.PromptWhenReady(ctx, p); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("serve: camera prompt not applied", "camera", c.Name, "prompt", i+1, "err", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Spec returns the camera's zones and lines and its prompts in the forms
// the tracker and the detector take (for workers of a cluster); Load has
// checked them.
func (c Config) Spec() (*events.Geometry, []prompt.Prompt) {
	geo, _ := c.geometry()
	var ps []prompt.Prompt
	for _, cp := range c.Prompts {
		p, _ := cp.prompt()
		ps = append(ps, p)
	}
	return geo, ps
}
