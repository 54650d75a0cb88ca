package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/vidseg/vidseg/sam"
)

// fixtureModel is the random-weight test model committed to the repository.
const fixtureModel = "testdata/model/sam2.1_hiera_t_random"

const exportHowTo = `no model configured. To get one, export an official SAM 2 checkpoint once:
  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t
then pass --model models/sam2.1_hiera_t (or set VIDSEG_MODEL, or "model" in the config file).
For plumbing checks only, the repository bundles a random-weight fixture:
  --model ` + fixtureModel + ` (its masks are meaningless)`

// modelChoice is the model directory a command will use and why.
type modelChoice struct {
	dir    string
	from   string // "flag", "env VIDSEG_MODEL", "config ...", "./models", "fixture"
	random bool   // the bundled random-weight fixture
}

// findModel applies the lookup order: --model > VIDSEG_MODEL > config >
// ./models/* (the first directory with a manifest) > the bundled fixture.
func findModel(s *settings) (modelChoice, error) {
	if dir := s.get("model"); dir != "" {
		return modelChoice{dir: dir, from: s.source("model")}, nil
	}
	if entries, err := os.ReadDir("models"); err == nil {
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			dir := filepath.Join("models", n)
			if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
				return modelChoice{dir: dir, from: "./models"}, nil
			}
		}
	}
	for _, root := range searchRoots() {
		dir := filepath.Join(root, fixtureModel)
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
			return modelChoice{dir: dir, from: "fixture", random: true}, nil
		}
	}
	return modelChoice{}, modelErr(errors.New(exportHowTo))
}

// searchRoots are where bundled files are looked for: the working directory
// and the executable's directory and its parent (bin/vidseg in a checkout).
func searchRoots() []string {
	roots := []string{"."}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			roots = append(roots, d, filepath.Dir(d))
		}
	}
	return roots
}

// loadedModel is an open runtime and model, closed together.
type loadedModel struct {
	rt     *sam.Runtime
	model  *sam.Model
	choice modelChoice
}

func (m *loadedModel) Close() error {
	err := m.model.Close()
	if rerr := m.rt.Close(); err == nil {
		err = rerr
	}
	return err
}

// openModel finds the model and the ONNX Runtime library and opens both.
// Warnings (the random fixture) go to w.
func openModel(s *settings, w io.Writer, log *slog.Logger) (*loadedModel, error) {
	choice, err := findModel(s)
	if err != nil {
		return nil, err
	}
	man, err := sam.LoadManifest(choice.dir)
	if err != nil {
		return nil, modelErr(fmt.Errorf("model (from %s): %w", choice.from, err))
	}
	switch {
	case choice.random:
		fmt.Fprintf(w, "vidseg: warning: no model configured; using the bundled test fixture %s: it has RANDOM weights, so masks are meaningless (see `vidseg track --help` to get a real model)\n", choice.dir)
	case man.Fixture != nil && man.Fixture.RandomWeights:
		choice.random = true
		fmt.Fprintf(w, "vidseg: warning: model %s is a test fixture with RANDOM weights: masks are meaningless\n", choice.dir)
	}
	threads, err := s.threads()
	if err != nil {
		return nil, err
	}
	switch p := s.get("provider"); p {
	case sam.ProviderAuto, sam.ProviderCPU, sam.ProviderCUDA:
	default:
		return nil, usagef("provider %q (from %s): want auto, cpu or cuda", p, s.source("provider"))
	}
	lib, err := sam.FindRuntimeLibrary(s.get("ort_lib"))
	if err != nil {
		return nil, fmt.Errorf("%w (run `make setup` or `vidseg doctor`)", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		return nil, fmt.Errorf("%w (run `vidseg doctor`)", err)
	}
	m, err := sam.Open(rt, choice.dir, sam.Options{Provider: s.get("provider"), Threads: threads, Logger: log})
	if err != nil {
		rt.Close()
		// The manifest and checksums passed: what fails here is the
		// provider or the runtime, not the package.
		return nil, fmt.Errorf("open model %s: %w", choice.dir, err)
	}
	return &loadedModel{rt: rt, model: m, choice: choice}, nil
}

// name identifies the model in stored sessions and resumable runs: its
// variant and directory name (two exports of one variant may differ).
func (m *loadedModel) name() string {
	v, dir := m.model.Manifest().Variant, filepath.Base(m.choice.dir)
	if v == "" || v == dir {
		return dir
	}
	return v + " (" + dir + ")"
}
