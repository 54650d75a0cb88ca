package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vidseg/vidseg/sam"
)

// ExportHowTo says how to get a model; doctor and serve print it.
const ExportHowTo = `no model configured. To get one, export an official SAM 2 checkpoint once:
  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t
then pass --model models/sam2.1_hiera_t (or set VIDSEG_MODEL, or "model" in the config file).
For plumbing checks only, the repository bundles a random-weight fixture:
  --model ` + sam.FixtureDir + ` (its masks are meaningless)`

// FindModel applies the lookup order: --model > VIDSEG_MODEL > config >
// ./models/* (the first directory with a manifest) > the bundled fixture.
func FindModel(s *Settings) (sam.Found, error) {
	if dir := s.Get("model"); dir != "" {
		return sam.Found{Dir: dir, From: s.Source("model")}, nil
	}
	if f, ok := sam.FindModel(SearchRoots()); ok {
		return f, nil
	}
	return sam.Found{}, ModelErr(errors.New(ExportHowTo))
}

// SearchRoots are where bundled files are looked for: the working directory
// and the executable's directory and its parent (bin/vidseg in a checkout).
func SearchRoots() []string {
	roots := []string{"."}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			roots = append(roots, d, filepath.Dir(d))
		}
	}
	return roots
}

// Model is an open runtime and model, closed together.
type Model struct {
	*sam.Model
	rt     *sam.Runtime
	Choice sam.Found // where it was found
}

// Close closes the model, then its runtime.
func (m *Model) Close() error {
	err := m.Model.Close()
	if rerr := m.rt.Close(); err == nil {
		err = rerr
	}
	return err
}

// OpenModel finds the model and the ONNX Runtime library and opens both.
// Warnings (the random fixture) go to w.
func OpenModel(s *Settings, w io.Writer, log *slog.Logger) (*Model, error) {
	choice, err := FindModel(s)
	if err != nil {
		return nil, err
	}
	man, err := sam.LoadManifest(choice.Dir)
	if err != nil {
		return nil, ModelErr(fmt.Errorf("model (from %s): %w", choice.From, err))
	}
	switch {
	case choice.Random:
		fmt.Fprintf(w, "vidseg: warning: no model configured; using the bundled test fixture %s: it has RANDOM weights, so masks are meaningless (see `vidseg track --help` to get a real model)\n", choice.Dir)
	case man.Fixture != nil && man.Fixture.RandomWeights:
		choice.Random = true
		fmt.Fprintf(w, "vidseg: warning: model %s is a test fixture with RANDOM weights: masks are meaningless\n", choice.Dir)
	}
	threads, err := s.Threads()
	if err != nil {
		return nil, err
	}
	switch p := s.Get("provider"); p {
	case sam.ProviderAuto, sam.ProviderCPU, sam.ProviderCUDA:
	default:
		return nil, Usagef("provider %q (from %s): want auto, cpu or cuda", p, s.Source("provider"))
	}
	if _, err := sam.ParseAttention(s.Get("attention")); err != nil {
		return nil, Usagef("%v (from %s)", err, s.Source("attention"))
	}
	if _, err := sam.ParseMatMul(s.Get("matmul")); err != nil {
		return nil, Usagef("%v (from %s)", err, s.Source("matmul"))
	}
	lib, err := sam.FindRuntimeLibrary(s.Get("ort_lib"))
	if err != nil {
		return nil, fmt.Errorf("%w (run `make setup` or `vidseg doctor`)", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		return nil, fmt.Errorf("%w (run `vidseg doctor`)", err)
	}
	m, err := sam.Open(rt, choice.Dir, sam.Options{Provider: s.Get("provider"), Threads: threads, Attention: s.Get("attention"), MatMul: s.Get("matmul"), Logger: log})
	if err != nil {
		rt.Close()
		// The manifest and checksums passed: what fails here is the
		// provider or the runtime, not the package.
		return nil, fmt.Errorf("open model %s: %w", choice.Dir, err)
	}
	return &Model{Model: m, rt: rt, Choice: choice}, nil
}

// Name identifies the model in stored sessions and resumable runs: its
// variant and directory name (two exports of one variant may differ), and
// the bf16 operators, whose masks differ from float32's.
func (m *Model) Name() string {
	v, dir := m.Manifest().Variant, filepath.Base(m.Choice.Dir)
	name := v + " (" + dir + ")"
	if v == "" || v == dir {
		name = dir
	}
	if m.Attention() == sam.AttentionBF16 {
		name += " bf16 attention"
	}
	if m.MatMul() == sam.MatMulBF16 {
		name += " bf16 matmul"
	}
	return name
}
