package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/vidseg/vidseg/sam"
)

// check is one line of the doctor's report.
type check struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // "ok", "warn", "fail"
	Detail   string `json:"detail"`
	Fix      string `json:"fix,omitempty"`
	Required bool   `json:"required"`
}

func runDoctor(ctx context.Context, e *env, args []string) error {
	s, err := loadSettings(e, args)
	if err != nil {
		return err
	}
	fs := newFlags(e, "doctor", "vidseg doctor [--json] [--model DIR] [--ort-lib FILE]",
		`Checks what vidseg needs and says how to fix what is missing: the FFmpeg
libraries (versions, H.264 decoder, x264 and VP8 encoders), the ONNX Runtime
library (where it was found, whether it loads, its version), the execution
providers (CPU; CUDA when its provider library is present), the model
directory (manifest and SHA-256 of every file; it is opened as a last test)
and Chromium (used by the browser tests).

Exits 1 when a required check fails; warnings (no real model, no Chromium,
no CUDA) do not change the exit code.`,
		"  vidseg doctor\n  vidseg doctor --json | jq .\n  VIDSEG_MODEL=models/sam2.1_hiera_t vidseg doctor")
	configFlag(fs)
	s.flag(fs, "model")
	s.flag(fs, "ort_lib")
	s.flag(fs, "provider")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("doctor takes no arguments, got %q", pos)
	}

	var checks []check
	add := func(c check) { checks = append(checks, c) }
	checkFFmpeg(add)
	rt := checkRuntime(s, add)
	checkModel(ctx, s, rt, add)
	if rt != nil {
		rt.Close()
	}
	checkChromium(ctx, add)

	failed := 0
	for _, c := range checks {
		if c.Status == "fail" && c.Required {
			failed++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK     bool    `json:"ok"`
			Checks []check `json:"checks"`
		}{failed == 0, checks}); err != nil {
			return err
		}
	} else {
		printChecks(e.stdout, checks)
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d required check(s) failed", failed)
	}
	return nil
}

func printChecks(w io.Writer, checks []check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-5s %-14s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Status != "ok" {
			for _, line := range strings.Split(c.Fix, "\n") {
				fmt.Fprintf(w, "%-5s %-14s %s\n", "", "", line)
			}
		}
	}
}

func checkFFmpeg(add func(check)) {
	release, libs := ffmpegVersions()
	add(check{Name: "ffmpeg", Status: "ok", Required: true,
		Detail: fmt.Sprintf("FFmpeg %s: %s", release, strings.Join(libs, ", "))})
	var missing, found []string
	for _, c := range []struct {
		what    string
		encoder bool
		name    string
	}{
		{"H.264 decoder", false, "h264"},
		{"VP8 decoder", false, "vp8"},
		{"H.264 encoder", true, "libx264"},
		{"VP8 encoder", true, "libvpx"},
	} {
		var codec *astiav.Codec
		if c.encoder {
			codec = astiav.FindEncoderByName(c.name)
		} else {
			codec = astiav.FindDecoderByName(c.name)
		}
		if codec == nil {
			missing = append(missing, c.what+" ("+c.name+")")
		} else {
			found = append(found, c.name)
		}
	}
	c := check{Name: "codecs", Status: "ok", Required: true, Detail: strings.Join(found, ", ")}
	if len(missing) > 0 {
		c.Status = "fail"
		c.Detail = "missing " + strings.Join(missing, ", ")
		c.Fix = "install Debian's FFmpeg libraries: run `make setup` (libavcodec59 with libx264 and libvpx)"
	}
	add(c)
}

func checkRuntime(s *settings, add func(check)) *sam.Runtime {
	lib, err := sam.FindRuntimeLibrary(s.get("ort_lib"))
	if err != nil {
		add(check{Name: "onnxruntime", Status: "fail", Required: true, Detail: err.Error(),
			Fix: "run `make setup` (installs ONNX Runtime 1.24.1 into third_party/onnxruntime), or set VIDSEG_ORT_LIB / --ort-lib to libonnxruntime.so.1"})
		return nil
	}
	from := "search"
	if s.get("ort_lib") != "" {
		from = s.source("ort_lib")
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		add(check{Name: "onnxruntime", Status: "fail", Required: true,
			Detail: fmt.Sprintf("%s (found by %s) does not load: %v", lib, from, err),
			Fix:    "the file is not a working ONNX Runtime >= 1.24 for this machine: run `make setup`, or point VIDSEG_ORT_LIB at another copy"})
		return nil
	}
	add(check{Name: "onnxruntime", Status: "ok", Required: true,
		Detail: fmt.Sprintf("%s loaded from %s (found by %s)", rt.Version(), lib, from)})

	// The CUDA provider ships as a separate library beside the runtime.
	cuda := filepath.Join(filepath.Dir(lib), "libonnxruntime_providers_cuda.so")
	if _, err := os.Stat(cuda); err == nil {
		add(check{Name: "providers", Status: "ok", Detail: "cpu, cuda (" + cuda + ")"})
	} else {
		add(check{Name: "providers", Status: "ok",
			Detail: "cpu (no libonnxruntime_providers_cuda.so beside the runtime, so no CUDA; fine on CPU-only machines)"})
	}
	return rt
}

func checkModel(ctx context.Context, s *settings, rt *sam.Runtime, add func(check)) {
	choice, err := findModel(s)
	if err != nil {
		add(check{Name: "model", Status: "fail", Required: true, Detail: "no model directory found",
			Fix: strings.TrimPrefix(err.Error(), "no model configured. ")})
		return
	}
	man, err := sam.LoadManifest(choice.Dir)
	if err != nil {
		add(check{Name: "model", Status: "fail", Required: true,
			Detail: fmt.Sprintf("%s (from %s): %v", choice.Dir, choice.From, err),
			Fix:    "re-export the model (tools/export/export.py) or restore the directory; files must match manifest.json"})
		return
	}
	c := check{Name: "model", Status: "ok", Required: true,
		Detail: fmt.Sprintf("%s %s %s (from %s), %d files verified", choice.Dir, man.Variant, man.Precision, choice.From, len(man.Files))}
	if choice.Random || man.Fixture != nil {
		c.Status = "warn"
		c.Detail += "; RANDOM weights: a test fixture, masks are meaningless"
		c.Fix = strings.TrimPrefix(exportHowTo, "no model configured. ")
	}
	add(c)
	if rt == nil {
		return
	}
	begin := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := sam.Open(rt, choice.Dir, sam.Options{Provider: s.get("provider"), Logger: quiet})
	if err != nil {
		add(check{Name: "model load", Status: "fail", Required: true, Detail: err.Error(),
			Fix: "with --provider cuda the CUDA libraries must load; try --provider cpu"})
		return
	}
	add(check{Name: "model load", Status: "ok", Required: true,
		Detail: fmt.Sprintf("4 graphs opened on %s in %s", m.Provider(), time.Since(begin).Round(time.Millisecond))})
	if err := m.Close(); err != nil {
		add(check{Name: "model close", Status: "fail", Required: true, Detail: err.Error()})
	}
}

func checkChromium(ctx context.Context, add func(check)) {
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			add(check{Name: "chromium", Status: "warn", Detail: "not found (only the browser tests need it)",
				Fix: "run `make setup` (apt-get install chromium)"})
			return
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		var ee *exec.ExitError
		detail := err.Error()
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			detail = strings.TrimSpace(string(ee.Stderr))
		}
		add(check{Name: "chromium", Status: "warn", Detail: fmt.Sprintf("%s --version failed: %s", path, detail),
			Fix: "reinstall with `make setup`"})
		return
	}
	add(check{Name: "chromium", Status: "ok", Detail: strings.TrimSpace(string(out)) + " (" + path + ")"})
}
