package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/vidseg/vidseg/sam"
)

// ExportHowTo says how to get a model; doctor and serve print it. The
// exporter and the fixture are named where they are found (a checkout
// holding this binary or the working directory), so the hint works from
// any folder.
func ExportHowTo(s *Settings) string {
	exporter, fixture := "tools/export/export.py", sam.FixtureDir
	where := ", in a vidseg source checkout"
	for _, root := range SearchRoots() {
		p := filepath.Join(root, "tools", "export", "export.py")
		if _, err := os.Stat(p); err == nil {
			exporter, where = absPath(p), ""
			break
		}
	}
	for _, root := range SearchRoots() {
		if p := filepath.Join(root, sam.FixtureDir); isDir(p) {
			fixture = absPath(p)
			break
		}
	}
	out := "models/sam2.1_hiera_t"
	if d := s.ModelsDir(); d != "" {
		out = filepath.Join(d, "sam2.1_hiera_t")
	}
	return fmt.Sprintf(`no model configured. To get one, export an official SAM 2 checkpoint once%s:
  /usr/bin/python3 %s --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out %s
%s (or set VIDSEG_MODEL, or "model" in the config file).
For plumbing checks only, the repository bundles a random-weight fixture:
  --model %s (its masks are meaningless)`, where, exporter, out, modelsDirNote(s, out), fixture)
}

func modelsDirNote(s *Settings, out string) string {
	if s.ModelsDir() != "" {
		return "Models in " + s.ModelsDir() + " are found from any folder; or pass --model DIR"
	}
	return "then pass --model " + out
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// FindModel applies the lookup order: --model > VIDSEG_MODEL > config >
// ./models/* > the installed models (ModelsDir, and share/vidseg/models
// beside the executable's bin/) > the bundled fixture.
func FindModel(s *Settings) (sam.Found, error) {
	if dir := s.Get("model"); dir != "" {
		return sam.Found{Dir: dir, From: s.Source("model")}, nil
	}
	dirs := []string{"models"}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Join(filepath.Dir(filepath.Dir(exe)), "share", "vidseg", "models"))
		}
	}
	if d := s.ModelsDir(); d != "" && !slices.Contains(dirs, d) {
		dirs = append(dirs, d)
	}
	if f, ok := sam.FindModel(dirs, SearchRoots()); ok {
		return f, nil
	}
	return sam.Found{}, ModelErr(errors.New(ExportHowTo(s)))
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
func OpenModel(s *Settings, w io.Writer, log *slog.Logger, tune ...func(*sam.Options)) (*Model, error) {
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
	if _, err := sam.ParseResident(s.Get("resident")); err != nil {
		return nil, Usagef("%v (from %s)", err, s.Source("resident"))
	}
	lib, err := sam.FindRuntimeLibrary(s.Get("ort_lib"))
	if err != nil {
		return nil, fmt.Errorf("%w (run `make setup` or `vidseg doctor`)", err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		return nil, fmt.Errorf("%w (run `vidseg doctor`)", err)
	}
	opts := sam.Options{Provider: s.Get("provider"), Threads: threads, Attention: s.Get("attention"), MatMul: s.Get("matmul"), Resident: s.Get("resident"), Logger: log}
	for _, f := range tune {
		f(&opts)
	}
	m, err := sam.Open(rt, choice.Dir, opts)
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
