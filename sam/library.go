package sam

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Environment variables consulted by [FindRuntimeLibrary], in order.
const (
	EnvRuntimeLibrary     = "VIDSEG_ORT_LIB"
	EnvORTSharedLibrary   = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
	bundledRuntimeLibrary = "third_party/onnxruntime/lib/libonnxruntime.so.1"
	// The GPU build (make setup-gpu): ONNX Runtime 1.29 with its CUDA
	// provider beside it; preferred when an NVIDIA driver is loaded.
	bundledGPURuntimeLibrary = "third_party/onnxruntime-gpu/lib/libonnxruntime.so.1"
	// InstalledLibDir is where `make install` puts ONNX Runtime, under
	// its PREFIX (~/.local by default).
	InstalledLibDir = "lib/vidseg"
)

// systemLibDirs are searched after the bundled copy; ldconfig's cache is
// consulted last.
var systemLibDirs = []string{
	"/usr/local/lib",
	"/usr/lib",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/local/lib64",
	"/usr/lib64",
}

var systemLibNames = []string{"libonnxruntime.so.1", "libonnxruntime.so"}

// FindRuntimeLibrary returns the path of the ONNX Runtime shared library.
//
// It looks, in order, at override (typically a command-line flag), the
// environment variables VIDSEG_ORT_LIB and ONNXRUNTIME_SHARED_LIBRARY_PATH,
// ../lib/vidseg beside the executable's directory (the `make install`
// layout), third_party/onnxruntime/lib/libonnxruntime.so.1 in the
// executable's directory and every parent (third_party/onnxruntime-gpu/...
// first when an NVIDIA driver is loaded), the same in the working directory
// and every parent, ~/.local/lib/vidseg, the usual system library
// directories, and finally the ldconfig cache. Each place is looked at
// once. An explicit setting (override or an environment variable) that
// names a missing file is an error rather than being skipped, so a typo
// never silently selects another library. When nothing is found the error
// lists every place that was looked at.
func FindRuntimeLibrary(override string) (string, error) {
	explicit := []struct{ what, path string }{
		{"override", override},
		{EnvRuntimeLibrary, os.Getenv(EnvRuntimeLibrary)},
		{EnvORTSharedLibrary, os.Getenv(EnvORTSharedLibrary)},
	}
	for _, e := range explicit {
		if e.path == "" {
			continue
		}
		if err := isLibraryFile(e.path); err != nil {
			return "", fmt.Errorf("ONNX Runtime library from %s: %w", e.what, err)
		}
		return e.path, nil
	}

	var looked []string
	try := func(p string) bool {
		if slices.Contains(looked, p) { // the executable's and the working directory's parents overlap
			return false
		}
		looked = append(looked, p)
		return isLibraryFile(p) == nil
	}

	var starts []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
			// `make install`: PREFIX/bin/vidseg beside PREFIX/lib/vidseg.
			if p := filepath.Join(filepath.Dir(filepath.Dir(exe)), InstalledLibDir, systemLibNames[0]); try(p) {
				return p, nil
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	bundled := []string{bundledRuntimeLibrary}
	if HasNVIDIAGPU() {
		bundled = []string{bundledGPURuntimeLibrary, bundledRuntimeLibrary}
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			for _, b := range bundled {
				if p := filepath.Join(dir, b); try(p) {
					return p, nil
				}
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".local", InstalledLibDir, systemLibNames[0]); try(p) {
			return p, nil
		}
	}
	for _, dir := range systemLibDirs {
		for _, name := range systemLibNames {
			if p := filepath.Join(dir, name); try(p) {
				return p, nil
			}
		}
	}
	looked = append(looked, "ldconfig -p")
	if p := ldconfigLookup(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("ONNX Runtime shared library not found (run `make setup`, or set %s or pass its path); looked in:\n  %s",
		EnvRuntimeLibrary, strings.Join(looked, "\n  "))
}

func isLibraryFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file", p)
		}
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a shared library", p)
	}
	return nil
}

// ldconfigLookup returns the first libonnxruntime entry of the dynamic
// linker's cache, or "" when there is none or ldconfig is unavailable.
func ldconfigLookup() string {
	bin, err := exec.LookPath("ldconfig")
	if err != nil {
		bin = "/sbin/ldconfig"
		if _, err := os.Stat(bin); err != nil {
			return ""
		}
	}
	out, err := exec.Command(bin, "-p").Output()
	if err != nil {
		return ""
	}
	// Lines look like: "\tlibonnxruntime.so.1 (libc6,x86-64) => /usr/lib/libonnxruntime.so.1"
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "libonnxruntime.so") {
			continue
		}
		if _, p, ok := strings.Cut(line, "=> "); ok && isLibraryFile(p) == nil {
			return p
		}
	}
	return ""
}
