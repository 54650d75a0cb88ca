// Package doctor checks what vidseg needs (FFmpeg, ONNX Runtime, the
// model, Chromium) and says how to fix what is missing.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/sam"
)

// Check is one line of the doctor's report.
type Check struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // "ok", "warn", "fail"
	Detail   string `json:"detail"`
	Fix      string `json:"fix,omitempty"`
	Required bool   `json:"required"`
}

// Print writes the checks as a table, each fix under its check.
func Print(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-5s %-14s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Status != "ok" {
			for _, line := range strings.Split(c.Fix, "\n") {
				fmt.Fprintf(w, "%-5s %-14s %s\n", "", "", line)
			}
		}
	}
}

// FFmpeg checks the FFmpeg libraries and the codecs vidseg uses.
func FFmpeg(add func(Check)) {
	release, libs := decode.Versions()
	add(Check{Name: "ffmpeg", Status: "ok", Required: true,
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
	c := Check{Name: "codecs", Status: "ok", Required: true, Detail: strings.Join(found, ", ")}
	if len(missing) > 0 {
		c.Status = "fail"
		c.Detail = "missing " + strings.Join(missing, ", ")
		c.Fix = "install Debian's FFmpeg libraries: run `make setup` (libavcodec59 with libx264 and libvpx)"
	}
	add(c)
}

// Runtime finds and loads ONNX Runtime (ortLib, given by from, or a
// search when "") and checks its providers. The caller closes the Runtime.
func Runtime(ortLib, from string, add func(Check)) *sam.Runtime {
	lib, err := sam.FindRuntimeLibrary(ortLib)
	if err != nil {
		add(Check{Name: "onnxruntime", Status: "fail", Required: true, Detail: err.Error(),
			Fix: "run `make setup` (installs ONNX Runtime 1.24.1 into third_party/onnxruntime), or set VIDSEG_ORT_LIB / --ort-lib to libonnxruntime.so.1"})
		return nil
	}
	if ortLib == "" {
		from = "search"
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		add(Check{Name: "onnxruntime", Status: "fail", Required: true,
			Detail: fmt.Sprintf("%s (found by %s) does not load: %v", lib, from, err),
			Fix:    "the file is not a working ONNX Runtime >= 1.24 for this machine: run `make setup`, or point VIDSEG_ORT_LIB at another copy"})
		return nil
	}
	add(Check{Name: "onnxruntime", Status: "ok", Required: true,
		Detail: fmt.Sprintf("%s loaded from %s (found by %s)", rt.Version(), lib, from)})

	// The CUDA provider ships as a separate library beside the runtime;
	// its CUDA libraries are found and loaded by sam.NewRuntime.
	switch cuda := rt.CUDA(); {
	case cuda.Usable():
		add(Check{Name: "providers", Status: "ok", Detail: fmt.Sprintf("cpu, cuda (driver %s; %s; CUDA libraries from %s: %s)",
			cuda.Driver, cuda.Provider, strings.Join(cuda.Dirs, ", "), strings.Join(cuda.Loaded, " "))})
	case cuda.Provider == "":
		add(Check{Name: "providers", Status: "ok", Detail: "cpu only: " + cuda.Err.Error() + "; fine on CPU-only machines"})
	default:
		add(Check{Name: "providers", Status: "warn", Detail: "cpu only, CUDA unusable: " + cuda.Err.Error(),
			Fix: "install the CUDA runtime libraries the provider names (e.g. pip's nvidia-* packages) or set " + sam.EnvCUDALibs})
	}
	switch fast, err := rt.BF16(); {
	case err != nil:
		add(Check{Name: "bf16", Status: "warn", Detail: "--attention bf16 and --matmul bf16 unavailable: " + err.Error()})
	case fast:
		add(Check{Name: "bf16", Status: "ok", Detail: "AVX-512 BF16: --attention bf16 (about 2x) and --matmul bf16 (about 1.6x) run faster on CPU; masks differ slightly"})
	default:
		add(Check{Name: "bf16", Status: "ok", Detail: "no AVX-512 BF16 on this CPU: keep --attention and --matmul at fp32 (the bf16 kernels would run a slow portable path)"})
	}
	return rt
}

// Model verifies the model package found (manifest and checksums) and,
// with rt, opens it on provider. howTo says how to get a real model.
func Model(choice sam.Found, rt *sam.Runtime, provider, howTo string, add func(Check)) {
	man, err := sam.LoadManifest(choice.Dir)
	if err != nil {
		add(Check{Name: "model", Status: "fail", Required: true,
			Detail: fmt.Sprintf("%s (from %s): %v", choice.Dir, choice.From, err),
			Fix:    "re-export the model (tools/export/export.py) or restore the directory; files must match manifest.json"})
		return
	}
	c := Check{Name: "model", Status: "ok", Required: true,
		Detail: fmt.Sprintf("%s %s %s (from %s), %d files verified", choice.Dir, man.Variant, man.Precision, choice.From, len(man.Files))}
	if choice.Random || man.Fixture != nil {
		c.Status = "warn"
		c.Detail += "; RANDOM weights: a test fixture, masks are meaningless"
		c.Fix = howTo
	}
	add(c)
	if rt == nil {
		return
	}
	begin := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := sam.Open(rt, choice.Dir, sam.Options{Provider: provider, Logger: quiet})
	if err != nil {
		add(Check{Name: "model load", Status: "fail", Required: true, Detail: err.Error(),
			Fix: "with --provider cuda the CUDA libraries must load; try --provider cpu"})
		return
	}
	add(Check{Name: "model load", Status: "ok", Required: true,
		Detail: fmt.Sprintf("4 graphs opened on %s in %s", m.Provider(), time.Since(begin).Round(time.Millisecond))})
	if err := m.Close(); err != nil {
		add(Check{Name: "model close", Status: "fail", Required: true, Detail: err.Error()})
	}
}

// Chromium checks the browser the browser tests drive.
func Chromium(ctx context.Context, add func(Check)) {
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			add(Check{Name: "chromium", Status: "warn", Detail: "not found (only the browser tests need it)",
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
		add(Check{Name: "chromium", Status: "warn", Detail: fmt.Sprintf("%s --version failed: %s", path, detail),
			Fix: "reinstall with `make setup`"})
		return
	}
	add(Check{Name: "chromium", Status: "ok", Detail: strings.TrimSpace(string(out)) + " (" + path + ")"})
}
