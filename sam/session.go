package sam

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/sam/internal/arena"
)

// tensorSpec is one graph input or output as the contract defines it; -1
// marks a dynamic dimension.
type tensorSpec struct {
	name  string
	dtype ort.TensorElementDataType
	shape []int64
}

func f32(name string, shape ...int64) tensorSpec {
	return tensorSpec{name, ort.TensorElementDataTypeFloat, shape}
}

func i64(name string, shape ...int64) tensorSpec {
	return tensorSpec{name, ort.TensorElementDataTypeInt64, shape}
}

func names(specs []tensorSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.name
	}
	return out
}

// sessionFactory creates the sessions of one model with shared settings and
// settles the "auto" provider on the first session.
type sessionFactory struct {
	man     *Manifest
	level   ort.GraphOptimizationLevel
	threads int
	spin    bool
	arena   bool // Options.Arena
	// shared: sessions allocate from the Runtime's arena (Runtime.arena).
	shared   bool
	tf32     bool // Options.TF32
	cudaOpts map[string]string
	profile  string // Options.Profile
	provider string // auto until the first session settles it to cpu or cuda
	// attention and matmul are Options.Attention and Options.MatMul; rt
	// holds the custom operators they need.
	attention, matmul string
	rt                *Runtime
	log               *slog.Logger
}

func (f *sessionFactory) open(key, file string, in, out []tensorSpec) (*ort.DynamicAdvancedSession, error) {
	return f.openAs(key, file, in, out, "")
}

// openAs is open with the float32 input bf16In, if not "", taken in
// bfloat16 under the name memFeatBF16 (bf16Input).
func (f *sessionFactory) openAs(key, file string, in, out []tensorSpec, bf16In string) (*ort.DynamicAdvancedSession, error) {
	path := filepath.Join(f.man.Dir, file)
	if err := checkGraphIO(path, in, out); err != nil {
		return nil, fmt.Errorf("graph %s (%s): %w", key, file, err)
	}
	inNames := names(in)
	var data []byte // the graph rewritten, when it is
	if ops := f.bf16(key); ops.any() {
		if f.provider == ProviderCUDA {
			return nil, fmt.Errorf("graph %s: %s is a CPU kernel; on CUDA use fp32", key, ops)
		}
		if f.rt.opsErr != nil {
			return nil, fmt.Errorf("graph %s: %s: %w", key, ops, f.rt.opsErr)
		}
		d, count, release, err := bf16GraphData(path, ops)
		if err != nil {
			return nil, fmt.Errorf("graph %s (%s): %s: %w", key, file, ops, err)
		}
		defer release()
		f.log.Debug("sam: graph rewritten for the bf16 operators", "graph", key, "attentions", count.attentions,
			"matmuls", count.matmuls, "biases", count.biases, "convs", count.convs, "mlps", count.mlps)
		f.provider = ProviderCPU
		data = d
	}
	if bf16In != "" {
		if data == nil {
			d, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("graph %s: %w", key, err)
			}
			data = d
		}
		d, err := bf16Input(data, bf16In, memFeatBF16)
		if err != nil {
			return nil, fmt.Errorf("graph %s (%s): %w", key, file, err)
		}
		data = d
		inNames[slices.Index(inNames, bf16In)] = memFeatBF16
	}
	if key == "memory_attention" {
		d, err := ownPositionBatch(path, data)
		if err != nil {
			return nil, fmt.Errorf("graph %s (%s): %w", key, file, err)
		}
		data = d
	}
	switch f.provider {
	case ProviderCPU:
		return f.create(path, data, key, file, inNames, out, false)
	case ProviderCUDA:
		return f.create(path, data, key, file, inNames, out, true)
	}
	// ONNX Runtime logs a failed CUDA load as an error of its own; in auto
	// mode that is expected, so quiet it while probing.
	ort.SetEnvironmentLogLevel(ort.LoggingLevelFatal)
	sess, err := f.create(path, data, key, file, inNames, out, true)
	ort.SetEnvironmentLogLevel(ort.LoggingLevelError)
	if err == nil {
		f.provider = ProviderCUDA
		f.log.Info("sam: using the CUDA execution provider")
		return sess, nil
	}
	f.log.Info("sam: CUDA execution provider unavailable, using CPU", "reason", err)
	f.provider = ProviderCPU
	return f.create(path, data, key, file, inNames, out, false)
}

// bf16 says which of graph key's nodes run in the bf16 operators: the
// attentions of the image encoder and memory attention, and the weight
// products of every graph but the mask decoder (whose are a few percent of
// a frame). The memory attention's and memory encoder's run once per
// object: with EdgeTAM's small encoder they are most of a 4-object frame.
func (f *sessionFactory) bf16(key string) bf16Ops {
	// EdgeTAM's image encoder (RepViT) has no attention: only its memory
	// attention's are rewritten.
	encoderAttention := key == "image_encoder" && f.man.Family != FamilyEdgeTAM
	return bf16Ops{
		attention: f.attention == AttentionBF16 && (encoderAttention || key == "memory_attention"),
		matmul:    f.matmul == MatMulBF16 && key != "mask_decoder",
		// Only the image encoder must have products (an int8 package's
		// are quantized: an error that names why).
		optionalMatMul: key != "image_encoder",
	}
}

// plainLayout says whether graph key keeps ONNX Runtime's CPU convolutions in
// plain NCHW instead of its blocked NCHWc layout. EdgeTAM's RepViT encoder
// puts an exact GELU between its 1x1 convolutions, which has no NCHWc
// kernel, so the blocked layout costs a reorder out and back around each
// one: 97 of its 290 ms at 2 threads on the EPYC VM, more than the blocked
// convolutions save (plain: 225-243 ms; at 1 thread the two are even).
// docs/runtime.md "Convolution layout".
func (f *sessionFactory) plainLayout(key string) bool {
	return key == "image_encoder" && f.man.Family == FamilyEdgeTAM
}

// create makes the session of the graph at path, or of data (the graph
// rewritten in memory) when data is not nil.
func (f *sessionFactory) create(path string, data []byte, key, file string, in []string, out []tensorSpec, cuda bool) (*ort.DynamicAdvancedSession, error) {
	opts, err := f.options(cuda, key)
	if err != nil {
		return nil, fmt.Errorf("graph %s (%s): %w", key, file, err)
	}
	defer opts.Destroy()
	var sess *ort.DynamicAdvancedSession
	if data != nil {
		sess, err = ort.NewDynamicAdvancedSessionWithONNXData(data, in, names(out), opts)
	} else {
		sess, err = ort.NewDynamicAdvancedSession(path, in, names(out), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("graph %s (%s): create session: %w", key, file, err)
	}
	return sess, nil
}

func (f *sessionFactory) options(cuda bool, key string) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	err = func() error {
		if err := opts.SetIntraOpNumThreads(f.threads); err != nil {
			return err
		}
		// The graphs are chains; a second pool would only compete for cores.
		if err := opts.SetInterOpNumThreads(1); err != nil {
			return err
		}
		if err := opts.SetExecutionMode(ort.ExecutionModeSequential); err != nil {
			return err
		}
		if err := opts.SetGraphOptimizationLevel(f.level); err != nil {
			return err
		}
		if f.shared {
			if err := opts.AddSessionConfigEntry(arena.SessionConfigKey, arena.SessionConfigValue); err != nil {
				return fmt.Errorf("shared CPU arena: %w", err)
			}
		}
		if !f.arena {
			if err := opts.SetCpuMemArena(false); err != nil {
				return fmt.Errorf("disable the CPU memory arena: %w", err)
			}
			if err := opts.SetMemPattern(false); err != nil {
				return fmt.Errorf("disable the memory pattern: %w", err)
			}
		}
		if !f.spin {
			if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
				return fmt.Errorf("disable spinning: %w", err)
			}
		}
		if ops := f.bf16(key); ops.any() {
			if err := f.rt.ops.AddTo(opts); err != nil {
				return fmt.Errorf("%s: %w", ops, err)
			}
		}
		if !cuda && f.plainLayout(key) {
			if err := opts.AddSessionConfigEntry("optimization.disable_specified_optimizers", "NchwcTransformer"); err != nil {
				return fmt.Errorf("keep the NCHW layout: %w", err)
			}
		}
		if f.profile != "" {
			// One prefix per graph: ONNX Runtime names the file by the second.
			if err := opts.EnableProfiling(f.profile + key + "_"); err != nil {
				return fmt.Errorf("profiling: %w", err)
			}
		}
		if !cuda {
			return nil
		}
		cudaOpts, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fmt.Errorf("CUDA provider options: %w", err)
		}
		defer cudaOpts.Destroy()
		tf32 := "0"
		if f.tf32 {
			tf32 = "1"
		}
		set := map[string]string{
			"use_tf32": tf32,
			// Shapes are fixed per graph but for the memory length: search
			// the fastest convolution once per shape.
			"cudnn_conv_algo_search":    "EXHAUSTIVE",
			"do_copy_in_default_stream": "1",
		}
		maps.Copy(set, f.cudaOpts)
		if err := cudaOpts.Update(set); err != nil {
			return fmt.Errorf("CUDA provider options: %w", err)
		}
		if err := opts.AppendExecutionProviderCUDA(cudaOpts); err != nil {
			return fmt.Errorf("CUDA execution provider: %w", err)
		}
		return nil
	}()
	if err != nil {
		opts.Destroy()
		return nil, err
	}
	return opts, nil
}

// checkGraphIO compares the graph's declared inputs and outputs with the
// contract, naming what was expected and what was found.
func checkGraphIO(path string, in, out []tensorSpec) error {
	gotIn, gotOut, err := graphIO(path)
	if err != nil {
		return fmt.Errorf("read inputs and outputs: %w", err)
	}
	if err := compareIO("input", in, gotIn); err != nil {
		return err
	}
	return compareIO("output", out, gotOut)
}

func compareIO(kind string, want []tensorSpec, got []ort.InputOutputInfo) error {
	wantNames := names(want)
	gotNames := make([]string, len(got))
	byName := make(map[string]ort.InputOutputInfo, len(got))
	for i, g := range got {
		gotNames[i] = g.Name
		byName[g.Name] = g
	}
	a, b := slices.Sorted(slices.Values(wantNames)), slices.Sorted(slices.Values(gotNames))
	if !slices.Equal(a, b) {
		return fmt.Errorf("unexpected %ss: found [%s], expected [%s]",
			kind, strings.Join(gotNames, " "), strings.Join(wantNames, " "))
	}
	for _, w := range want {
		g := byName[w.name]
		if g.OrtValueType != ort.ONNXTypeTensor {
			return fmt.Errorf("%s %s: found a %s, expected a tensor", kind, w.name, g.OrtValueType)
		}
		if g.DataType != w.dtype {
			return fmt.Errorf("%s %s: found element type %s, expected %s", kind, w.name, g.DataType, w.dtype)
		}
		if !shapeCompatible(w.shape, g.Dimensions) {
			return fmt.Errorf("%s %s: found shape %v, expected %v (-1 = dynamic)", kind, w.name, []int64(g.Dimensions), w.shape)
		}
	}
	return nil
}

// shapeCompatible accepts a symbolic dimension (-1 or 0 in the file) where
// the contract fixes one, but not a different fixed size or rank.
func shapeCompatible(want []int64, got ort.Shape) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] >= 0 && got[i] > 0 && got[i] != want[i] {
			return false
		}
	}
	return true
}
