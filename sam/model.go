package sam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/sam/internal/iobind"
)

// Execution providers accepted by [Options].Provider.
const (
	ProviderAuto = "auto" // CUDA when its libraries load, else CPU
	ProviderCPU  = "cpu"
	ProviderCUDA = "cuda"
)

// Options configure [Open].
type Options struct {
	// Provider is "auto" (default), "cpu" or "cuda". "auto" tries CUDA and
	// falls back to CPU when its libraries do not load; "cuda" fails instead.
	Provider string
	// Threads is ONNX Runtime's intra-op thread count; 0 means one per CPU.
	Threads int
	// SpinWait lets ONNX Runtime's idle worker threads spin between ops.
	// Off by default: on a shared 2-core machine spinning doubled the CPU
	// used by the mask decoder for no gain in latency (docs/runtime.md).
	SpinWait bool
	// GraphOptimization is ONNX Runtime's graph optimization level:
	// "all" (default), "extended", "basic" or "none".
	GraphOptimization string
	// Arena gives each graph's session its own ONNX Runtime CPU arena and
	// memory-pattern planning. Off by default: the sessions then share the
	// Runtime's one arena, which holds the largest single run's working set
	// rather than every graph's (per-session arenas: 2.2 GB peak RSS on the
	// full-size tiny model), and reuses it run after run instead of faulting
	// fresh pages in for every tensor (docs/runtime.md).
	Arena bool
	// noSharedArena leaves the sessions without any arena (tests compare).
	noSharedArena bool
	// residentProbe, when set, makes ResidentAuto resident on any provider
	// and replaces the run that checks it (tests).
	residentProbe func(*Model) error
	// TF32 lets the CUDA provider run fp32 matrix products and convolutions
	// in TF32 (10-bit mantissa) on GPUs that have it: faster, but fp32
	// packages then no longer match the reference within fp32 tolerances.
	// Off by default.
	TF32 bool
	// CUDAOptions are extra CUDA provider options (ONNX Runtime's names,
	// e.g. "prefer_nhwc": "1"), for experiments; they override vidseg's.
	CUDAOptions map[string]string
	// Profile, when set, makes ONNX Runtime write a JSON profile of every
	// node run per graph, to files starting with this prefix, when the
	// model is closed.
	Profile string
	// Attention is AttentionFP32 ("" too) or AttentionBF16: the image
	// encoder's and memory attention's attention products in bfloat16, about
	// twice as fast on CPUs with AVX-512 BF16, masks slightly different.
	Attention string
	// MatMul is MatMulFP32 ("" too) or MatMulBF16: the weight products
	// (linear layers and 1x1 convolutions) of every graph but the mask
	// decoder in bfloat16, about 1.6x as fast on CPUs with AVX-512 BF16,
	// masks slightly different.
	MatMul string
	// PortableBF16 keeps a bf16 Attention or MatMul on a CPU without
	// AVX-512 BF16, whose portable kernels are about a hundred times
	// slower than float32; by default such a CPU runs float32 (and says
	// so in the log).
	PortableBF16 bool
	// cpuBF16, when set, answers whether the CPU has AVX-512 BF16 in place
	// of the CPU (tests).
	cpuBF16 func() bool
	// Resident is ResidentAuto (""), ResidentOn or ResidentOff: whether the
	// image encoder's outputs that only the graphs read (feat_s0, feat_s1,
	// vision_pos) stay ONNX Runtime values on the provider's device, bound
	// into the mask decoder and memory attention with IO binding, so that
	// on CUDA they never cross to the host. Auto: on with CUDA, off on the
	// CPU, where graph inputs are Go memory read in place anyway.
	Resident string
	// Logger receives the provider choice; nil means slog.Default().
	Logger *slog.Logger
}

// Model is an opened model directory: its manifest, constants and one ONNX
// Runtime session per graph. Graph inputs and outputs are the callers' Go
// slices, handed to ONNX Runtime in place. A Model is not safe for
// concurrent use.
type Model struct {
	rt       *Runtime
	man      *Manifest
	provider string
	// attention and matmul are Options.Attention and Options.MatMul, checked.
	attention, matmul string
	sharedArena       bool // the sessions allocate from rt's arena
	log               *slog.Logger
	consts            []float32

	runOpts *ort.RunOptions
	// dev is where resident features live (Options.Resident); nil when
	// they are Go memory.
	dev    *iobind.Device
	held   atomic.Int64 // features held on dev, not yet closed
	enc    *imageEncoder
	dec    *maskDecoder
	memEnc *memoryEncoder
	attn   *memoryAttention
	count  counters
	closed bool
}

// Open verifies the model directory dir (see [LoadManifest]), loads its
// constants and creates a session for each of its four graphs, checking
// that every graph has the inputs and outputs of the contract.
func Open(rt *Runtime, dir string, opts Options) (_ *Model, err error) {
	if rt == nil {
		return nil, errors.New("open model: nil *sam.Runtime")
	}
	man, err := LoadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := rt.acquire(); err != nil {
		return nil, fmt.Errorf("open model %s: %w", dir, err)
	}
	m := &Model{rt: rt, man: man, log: opts.Logger}
	if m.log == nil {
		m.log = slog.Default()
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.consts, err = loadConstants(man); err != nil {
		return nil, err
	}
	level, err := optimizationLevel(opts.GraphOptimization)
	if err != nil {
		return nil, err
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	provider := opts.Provider
	if provider == "" {
		provider = ProviderAuto
	}
	switch provider {
	case ProviderAuto, ProviderCPU, ProviderCUDA:
	default:
		return nil, fmt.Errorf("open model: unknown provider %q (want auto, cpu or cuda)", provider)
	}
	attention, err := ParseAttention(opts.Attention)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	matmul, err := ParseMatMul(opts.MatMul)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	resident, err := ParseResident(opts.Resident)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	accelerated, opsErr := rt.BF16()
	if opts.cpuBF16 != nil {
		accelerated = opts.cpuBF16()
	}
	attention, matmul = bf16Fallback(attention, matmul, accelerated, opsErr, opts.PortableBF16, m.log)
	if m.runOpts, err = ort.NewRunOptions(); err != nil {
		return nil, fmt.Errorf("open model: run options: %w", err)
	}

	if cuda := rt.CUDA(); provider != ProviderCPU && !cuda.Usable() {
		if provider == ProviderCUDA {
			return nil, fmt.Errorf("open model: the CUDA execution provider is unusable: %w", cuda.Err)
		}
		m.log.Info("sam: CUDA execution provider unavailable, using CPU", "reason", cuda.Err)
		provider = ProviderCPU
	}
	f := sessionFactory{man: man, level: level, threads: threads, spin: opts.SpinWait, arena: opts.Arena, shared: !opts.Arena && !opts.noSharedArena && rt.arena != nil, tf32: opts.TF32, cudaOpts: opts.CUDAOptions, profile: opts.Profile, provider: provider, attention: attention, matmul: matmul, rt: rt, log: m.log}
	if m.enc, err = newImageEncoder(&f); err != nil {
		return nil, err
	}
	if m.dec, err = newMaskDecoder(&f); err != nil {
		return nil, err
	}
	if m.memEnc, err = newMemoryEncoder(&f); err != nil {
		return nil, err
	}
	if m.attn, err = newMemoryAttention(&f); err != nil {
		return nil, err
	}
	m.provider, m.attention, m.matmul, m.sharedArena = f.provider, attention, matmul, f.shared
	cudaDevice, err := cudaDeviceID(opts.CUDAOptions)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	m.dev, err = residentDevice(rt, resident, m.provider, opts.residentProbe != nil, cudaDevice)
	switch {
	case err != nil && resident == ResidentAuto:
		// A default must not stop a provider that runs the graphs.
		m.log.Warn("sam: image features pass through Go memory", "reason", err)
	case err != nil:
		return nil, fmt.Errorf("open model: %w", err)
	case m.dev != nil && resident == ResidentAuto:
		m.probeResident(opts.residentProbe)
	}
	if (attention == AttentionBF16 || matmul == MatMulBF16) && !accelerated && opsErr == nil {
		m.log.Warn("sam: this CPU has no AVX-512 BF16: the bf16 operators run slow portable kernels (Options.PortableBF16)")
	}
	if rt.arenaErr != nil && !opts.Arena {
		m.log.Warn("sam: no shared CPU arena, every run maps its tensors afresh (slower)", "err", rt.arenaErr)
	}
	m.log.Info("sam: model opened", "dir", dir, "variant", man.Variant, "provider", m.provider,
		"precision", man.Precision, "attention", attention, "matmul", matmul,
		"threads", threads, "resident", m.dev != nil, "spin", opts.SpinWait, "arena", opts.Arena, "shared_arena", f.shared, "optimization", level.String())
	return m, nil
}

// Close releases every session and tensor of the model. It is safe to call
// more than once.
func (m *Model) Close() error {
	if m == nil || m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.enc != nil {
		errs = append(errs, m.enc.close())
	}
	if m.dec != nil {
		errs = append(errs, m.dec.close())
	}
	if m.memEnc != nil {
		errs = append(errs, m.memEnc.close())
	}
	if m.attn != nil {
		errs = append(errs, m.attn.close())
	}
	if m.runOpts != nil {
		errs = append(errs, m.runOpts.Destroy())
	}
	m.dev.Close()
	m.rt.release()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close model: %w", err)
	}
	return nil
}

// Manifest is the model's manifest. Callers must not modify it.
func (m *Model) Manifest() *Manifest { return m.man }

// Provider is the execution provider the sessions run on: "cpu" or "cuda".
func (m *Model) Provider() string { return m.provider }

// Attention is the precision of the model's attentions: AttentionFP32 or
// AttentionBF16 (Options.Attention).
func (m *Model) Attention() string { return m.attention }

// MatMul is the precision of the weight products:
// MatMulFP32 or MatMulBF16 (Options.MatMul).
func (m *Model) MatMul() string { return m.matmul }

// Constant returns a copy of the named tensor of constants.bin, such as
// "no_mem_embed" or "no_obj_ptr".
func (m *Model) Constant(name string) ([]float32, error) {
	c, ok := m.man.Constants[name]
	if !ok {
		names := slices.Sorted(maps.Keys(m.man.Constants))
		return nil, fmt.Errorf("constant %q is not in the model (have %s)", name, strings.Join(names, ", "))
	}
	return append([]float32(nil), m.consts[c.Offset:c.Offset+c.Len()]...), nil
}

func loadConstants(man *Manifest) ([]float32, error) {
	if len(man.Constants) == 0 {
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(man.Dir, ConstantsFile))
	if err != nil {
		return nil, fmt.Errorf("read constants: %w", err)
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%s: size %d is not a multiple of 4 bytes", ConstantsFile, len(raw))
	}
	vals := make([]float32, len(raw)/4)
	for i := range vals {
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	for name, c := range man.Constants {
		if c.Offset+c.Len() > len(vals) {
			return nil, fmt.Errorf("%s: constant %s at [%d, %d) runs past the file's %d values",
				ConstantsFile, name, c.Offset, c.Offset+c.Len(), len(vals))
		}
	}
	return vals, nil
}

func optimizationLevel(s string) (ort.GraphOptimizationLevel, error) {
	switch s {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "none":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("unknown graph optimization level %q (want all, extended, basic or none)", s)
}

// usable fails for a closed model, whose tensors are gone.
func (m *Model) usable(graph string) error {
	if m.closed {
		return fmt.Errorf("%s: model is closed", graph)
	}
	return nil
}

// run runs sess on in and out, aborting it when ctx is done.
func (m *Model) run(ctx context.Context, graph string, sess *ort.DynamicAdvancedSession, in, out []ort.Value) error {
	return m.cancellable(ctx, graph, func(opts *ort.RunOptions) error { return sess.RunWithOptions(in, out, opts) })
}

// cancellable calls run with the model's run options, aborting the run
// through ONNX Runtime's terminate flag when ctx is done.
func (m *Model) cancellable(ctx context.Context, graph string, run func(*ort.RunOptions) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", graph, err)
	}
	if ctx.Done() == nil {
		if err := run(m.runOpts); err != nil {
			return fmt.Errorf("%s: %w", graph, err)
		}
		return nil
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		m.runOpts.Terminate()
	})
	err := run(m.runOpts)
	if !stop() {
		<-done // the terminate call must finish before the flag is reset
		m.runOpts.UnsetTerminate()
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", graph, cerr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", graph, err)
	}
	return nil
}
