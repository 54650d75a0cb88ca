package sam

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vidseg/vidseg/sam/internal/dl"
)

// EnvCUDALibs names extra folders (colon-separated) searched first for the
// CUDA libraries of ONNX Runtime's CUDA provider.
const EnvCUDALibs = "VIDSEG_CUDA_LIBS"

// cudaProviderLib is the CUDA provider of ONNX Runtime, a library beside
// libonnxruntime.so that ONNX Runtime loads itself.
const cudaProviderLib = "libonnxruntime_providers_cuda.so"

// CUDA is what [NewRuntime] found for ONNX Runtime's CUDA provider.
type CUDA struct {
	Provider string   // the provider library beside the runtime, "" when absent
	Driver   string   // the NVIDIA driver's version, "" when no driver is loaded
	Dirs     []string // folders the CUDA libraries were loaded from
	Loaded   []string // libraries loaded ahead of the provider, by soname
	// Err says why CUDA cannot be used; nil when the provider can be tried.
	Err error
}

// Usable reports whether sessions may try the CUDA provider.
func (c CUDA) Usable() bool { return c.Err == nil }

// cudaLibraryPrefixes are the libraries of the CUDA toolkit and cuDNN that
// the provider needs or loads at run time (cuDNN, cuFFT and NVRTC by
// dlopen, so they are not among its ELF dependencies).
var cudaLibraryPrefixes = []string{"libcudart.so", "libcublasLt.so", "libcublas.so", "libcurand.so", "libcufft.so", "libnvrtc.so", "libnvJitLink.so", "libcudnn"}

// loadCUDA finds the CUDA libraries that the provider beside the runtime
// library needs and loads them into the process, so that the provider
// finds them by soname when ONNX Runtime loads it. The libraries may live
// in the folders named by VIDSEG_CUDA_LIBS, in Python's nvidia-* packages
// (where pip puts the CUDA runtime for PyTorch), in a CUDA toolkit under
// /usr/local/cuda*, or where the dynamic linker finds them anyway.
func loadCUDA(runtimeLib string) CUDA {
	c := CUDA{Driver: nvidiaDriver()}
	provider := filepath.Join(filepath.Dir(runtimeLib), cudaProviderLib)
	if _, err := os.Stat(provider); err != nil {
		c.Err = fmt.Errorf("no %s beside %s (the CPU build of ONNX Runtime; `make setup-gpu` installs the GPU build)", cudaProviderLib, filepath.Base(runtimeLib))
		return c
	}
	c.Provider = provider
	if c.Driver == "" {
		c.Err = errors.New("no NVIDIA driver is loaded (/proc/driver/nvidia/version is absent)")
		return c
	}
	needed, err := cudaDependencies(provider)
	if err != nil {
		c.Err = err
		return c
	}
	if err := dl.OpenGlobal("libcuda.so.1"); err != nil {
		c.Err = fmt.Errorf("the NVIDIA driver library libcuda.so.1 does not load: %w", err)
		return c
	}
	dirs := cudaSearchDirs()
	// Every library of the wanted kinds in the folders found, so that what
	// cuDNN opens by name later (its engine libraries) is there too.
	// One file per soname: a toolkit folder holds libcublas.so.13 and the
	// libcublas.so.13.1.0.3 it links to, and a second copy of a library
	// loaded by path would be a second instance in the process.
	var files []string
	sonames := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		used := false
		for _, e := range entries {
			name := e.Name()
			if !strings.Contains(name, ".so.") || !hasAnyPrefix(name, cudaLibraryPrefixes) {
				continue
			}
			path := filepath.Join(dir, name)
			so := soname(path)
			if sonames[so] {
				continue // an earlier folder or file has it
			}
			sonames[so] = true
			files = append(files, path)
			used = true
		}
		if used {
			c.Dirs = append(c.Dirs, dir)
		}
	}
	// Libraries depend on each other (cuBLAS on cuBLASLt, cuDNN's parts on
	// cuDNN's graph library): load in passes until nothing more loads.
	// A library that never loads is reported below only if the provider
	// needs it.
	for pending := files; len(pending) > 0; {
		var next []string
		for _, f := range pending {
			if err := dl.OpenGlobal(f); err != nil {
				next = append(next, f)
				continue
			}
			c.Loaded = append(c.Loaded, soname(f))
		}
		if len(next) == len(pending) {
			break
		}
		pending = next
	}
	// What the provider itself needs must be there now, loaded above or
	// found by the dynamic linker.
	for _, so := range needed {
		if slices.Contains(c.Loaded, so) {
			continue
		}
		if err := dl.OpenGlobal(so); err != nil {
			c.Err = fmt.Errorf("the CUDA provider needs %s, not loadable from %s or by the dynamic linker (install the CUDA %s runtime, e.g. pip's nvidia-* packages, or set %s): %w",
				so, describeDirs(dirs), cudaMajor(needed), EnvCUDALibs, err)
			return c
		}
		c.Loaded = append(c.Loaded, so)
	}
	if !slices.ContainsFunc(c.Loaded, func(n string) bool { return strings.HasPrefix(n, "libcudnn.so") }) {
		if err := dl.OpenGlobal("libcudnn.so.9"); err != nil {
			c.Err = fmt.Errorf("cuDNN 9 (libcudnn.so.9) not found in %s or by the dynamic linker (pip's nvidia-cudnn package, or set %s)", describeDirs(dirs), EnvCUDALibs)
			return c
		}
	}
	return c
}

// cudaDependencies lists the CUDA libraries (sonames) the provider is
// linked against, the driver's libcuda excepted.
func cudaDependencies(provider string) ([]string, error) {
	f, err := elf.Open(provider)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", provider, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("read the dependencies of %s: %w", provider, err)
	}
	var out []string
	for _, l := range libs {
		if hasAnyPrefix(l, cudaLibraryPrefixes) {
			out = append(out, l)
		}
	}
	return out, nil
}

// soname is the library's DT_SONAME, or its file name when it has none.
func soname(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return filepath.Base(path)
	}
	defer f.Close()
	if names, err := f.DynString(elf.DT_SONAME); err == nil && len(names) > 0 {
		return names[0]
	}
	return filepath.Base(path)
}

// cudaMajor returns the CUDA major version the provider was built for,
// from its libcudart soname ("13"), or "" when not listed.
func cudaMajor(needed []string) string {
	for _, n := range needed {
		if v, ok := strings.CutPrefix(n, "libcudart.so."); ok {
			return v
		}
	}
	return ""
}

// nvidiaDriver returns the loaded NVIDIA kernel driver's version line, or
// "" when there is none.
func nvidiaDriver() string {
	b, err := os.ReadFile("/proc/driver/nvidia/version")
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if i := strings.Index(line, "Kernel Module"); i >= 0 {
		line = line[i+len("Kernel Module"):]
	}
	return strings.Join(strings.Fields(line), " ")
}

// HasNVIDIAGPU reports whether an NVIDIA driver is loaded.
func HasNVIDIAGPU() bool { return nvidiaDriver() != "" }

// cudaSearchDirs returns the folders to look in for CUDA libraries, in
// order, existing ones only.
func cudaSearchDirs() []string {
	var dirs []string
	add := func(patterns ...string) {
		for _, p := range patterns {
			matches, _ := filepath.Glob(p)
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.IsDir() && !slices.Contains(dirs, m) {
					dirs = append(dirs, m)
				}
			}
		}
	}
	for _, d := range filepath.SplitList(os.Getenv(EnvCUDALibs)) {
		if d != "" {
			add(d)
		}
	}
	for _, sp := range pythonSitePackages() {
		nv := filepath.Join(sp, "nvidia")
		// pip's layouts: nvidia/<lib>/lib (CUDA 12) and nvidia/cu13/lib (CUDA 13).
		add(filepath.Join(nv, "*", "lib"), filepath.Join(nv, "*", "lib64"))
	}
	add("/usr/local/cuda/lib64", "/usr/local/cuda-*/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
	return dirs
}

// pythonSitePackages returns the site-packages folders of the usual Python
// installs, and those of the python3 on PATH.
func pythonSitePackages() []string {
	patterns := []string{
		"/usr/local/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
		"/usr/local/lib/python3*/site-packages", "/opt/*/lib/python3*/site-packages",
		"/opt/*/.venv/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages",
	}
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := os.Getenv(env); v != "" {
			patterns = append(patterns, filepath.Join(v, "lib", "python3*", "site-packages"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		patterns = append(patterns, filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		out = append(out, m...)
	}
	// The python3 on PATH may live elsewhere (a venv activated in a profile).
	if py, err := exec.LookPath("python3"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		b, err := exec.CommandContext(ctx, py, "-c", "import sys; print('\\n'.join(p for p in sys.path if p.endswith('-packages')))").Output()
		if err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" && !slices.Contains(out, l) {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

func describeDirs(dirs []string) string {
	if len(dirs) == 0 {
		return "no CUDA library folder (" + EnvCUDALibs + ", Python's nvidia-* packages, /usr/local/cuda*)"
	}
	return strings.Join(dirs, ", ")
}
