package sam

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/internal/cmem"
	"github.com/vidseg/vidseg/sam/internal/arena"
	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// mmapThreshold is the allocation size from which ONNX Runtime's tensors
// (malloc'd, the CPU arena being off) are mmapped and returned to the system
// when freed. glibc's default threshold rises after every large free, up to
// 32 MiB, so activations of tens of MB then came from the heap and stayed
// resident: peak RSS of a model run 1.7 GB against 0.8 GB (docs/runtime.md).
const mmapThreshold = 256 << 10

// Runtime owns the ONNX Runtime environment of the process. ONNX Runtime
// (and its Go binding) keep that environment in process-global state, so at
// most one Runtime can be open at a time; the program creates it once,
// shares it between models, and closes it after every model it opened.
type Runtime struct {
	libPath string
	cuda    CUDA
	// ops holds vidseg's own operators for Options.Attention and MatMul "bf16";
	// opsErr says why it could not be created.
	ops    *bf16op.Domain
	opsErr error
	// arena is the CPU memory arena every session allocates from (nil, with
	// arenaErr saying why, when it could not be registered).
	arena    *arena.Arena
	arenaErr error
	// api is ONNX Runtime's C API (a const OrtApi*) for the IO binding of
	// Options.Resident; nil when it could not be found (arenaErr says why).
	api unsafe.Pointer

	mu     sync.Mutex
	open   int // models opened and not yet closed
	closed bool
}

// NewRuntime loads the ONNX Runtime shared library at libPath (an empty
// libPath means [FindRuntimeLibrary]("")) and initializes its environment.
// It also fixes glibc's mmap threshold for the process (see mmapThreshold)
// unless MALLOC_MMAP_THRESHOLD_ is set.
func NewRuntime(libPath string) (*Runtime, error) {
	if libPath == "" {
		p, err := FindRuntimeLibrary("")
		if err != nil {
			return nil, err
		}
		libPath = p
	}
	if err := isLibraryFile(libPath); err != nil {
		return nil, fmt.Errorf("ONNX Runtime library: %w", err)
	}
	if ort.IsInitialized() {
		return nil, errors.New("ONNX Runtime is already initialized in this process: create one sam.Runtime and share it")
	}
	if _, set := os.LookupEnv("MALLOC_MMAP_THRESHOLD_"); !set {
		cmem.SetMmapThreshold(mmapThreshold)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return nil, fmt.Errorf("initialize ONNX Runtime from %s: %w", libPath, err)
	}
	// Loaded before any session so that the CUDA provider, when ONNX
	// Runtime loads it, finds its libraries by soname.
	rt := &Runtime{libPath: libPath, cuda: loadCUDA(libPath)}
	rt.ops, rt.opsErr = bf16op.Open(libPath)
	if api, err := bf16op.API(libPath); err != nil {
		rt.arenaErr = err
	} else {
		rt.api = api
		rt.arena, rt.arenaErr = arena.Open(api)
	}
	return rt, nil
}

// CPUHasBF16 reports whether this CPU runs the bf16 operators' AVX-512
// BF16 kernels (elsewhere they run portable ones, many times slower).
func CPUHasBF16() bool { return bf16op.Fast() }

// BF16 reports whether vidseg's bf16 operators (Options.Attention and
// MatMul "bf16") are available, with an error saying why not, and whether
// this CPU runs their AVX-512 BF16 kernels (else portable ones, much slower).
func (rt *Runtime) BF16() (accelerated bool, err error) {
	if rt.opsErr != nil {
		return false, rt.opsErr
	}
	return rt.ops.Accelerated(), nil
}

// CUDA is what was found for ONNX Runtime's CUDA provider: its library,
// the driver, the CUDA libraries loaded, or why CUDA cannot be used.
func (rt *Runtime) CUDA() CUDA { return rt.cuda }

// LibraryPath is the shared library the runtime loaded.
func (rt *Runtime) LibraryPath() string { return rt.libPath }

// Version is the ONNX Runtime version string, e.g. "1.24.1".
func (rt *Runtime) Version() string { return ort.GetVersion() }

// Close releases the environment and unloads the library. It fails, and
// releases nothing, while models opened on it are still open.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil
	}
	if rt.open > 0 {
		return fmt.Errorf("close ONNX Runtime: %d model(s) still open", rt.open)
	}
	rt.closed = true
	rt.ops.Close() // after every session that used it
	if err := rt.arena.Close(); err != nil {
		return fmt.Errorf("close ONNX Runtime: %w", err)
	}
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("close ONNX Runtime: %w", err)
	}
	return nil
}

// acquire registers a model being opened; release undoes it.
func (rt *Runtime) acquire() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return errors.New("sam.Runtime is closed")
	}
	rt.open++
	return nil
}

func (rt *Runtime) release() {
	rt.mu.Lock()
	rt.open--
	rt.mu.Unlock()
}
