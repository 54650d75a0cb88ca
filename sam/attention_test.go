package sam

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// bf16ParityTol bounds the bf16 attention's error against PyTorch, relative
// to the output's largest value.
const bf16ParityTol = 2e-3

func TestRewriteBF16Attention(t *testing.T) {
	path := filepath.Join(fixtureDir(t), "memory_attention.onnx")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, c, err := rewriteBF16(nil, orig, bf16Ops{attention: true})
	if err != nil {
		t.Fatal(err)
	}
	n := c.attentions
	// Two attentions (self and cross) per memory attention layer.
	if n == 0 || n%2 != 0 {
		t.Fatalf("replaced %d nodes, want two per layer", n)
	}
	if c := strings.Count(string(out), "Bf16Attention"); c < n {
		t.Errorf("the rewritten graph names the operator %d times, want at least %d", c, n)
	}
	mapped, _, release, err := bf16GraphData(path, bf16Ops{attention: true})
	if err != nil || string(mapped) != string(out) {
		t.Errorf("bf16GraphData: %v; same bytes as in Go's heap: %v", err, string(mapped) == string(out))
	}
	if err == nil {
		release()
	}
	if _, again, err := rewriteBF16(nil, out, bf16Ops{attention: true}); err != nil || again.nodes() != 0 {
		t.Errorf("rewriting again: %d nodes, %v; want 0", again.nodes(), err)
	}
	// Inputs and outputs are untouched.
	tmp := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// A graph with nothing to rewrite (a --attention plain export) is refused,
	// naming why.
	if _, _, _, err := bf16GraphData(tmp, bf16Ops{attention: true}); err == nil || !strings.Contains(err.Error(), "no fused attention nodes") {
		t.Errorf("graph without fused attention: got %v", err)
	}
	in1, out1, err1 := graphIO(path)
	in2, out2, err2 := graphIO(tmp)
	if err1 != nil || err2 != nil || !slices.EqualFunc(in1, in2, sameIO) || !slices.EqualFunc(out1, out2, sameIO) {
		t.Errorf("graph inputs/outputs changed: %v %v / %v %v (%v, %v)", in1, out1, in2, out2, err1, err2)
	}
	if _, _, err := rewriteBF16(nil, orig[:len(orig)/2], bf16Ops{attention: true, matmul: true}); err == nil {
		t.Error("a truncated model was rewritten without an error")
	}
}

func sameIO(a, b ort.InputOutputInfo) bool {
	return a.Name == b.Name && a.DataType == b.DataType && slices.Equal(a.Dimensions, b.Dimensions)
}

// TestBF16AttentionParity runs the fixture's image encoder and memory
// attention with their attentions in the bf16 operator against PyTorch's
// float32 outputs. bfloat16 keeps 8 significant bits: the bound is 20x the
// float32 one (bf16 measured 2.8e-4 on the memory attention, float32 4e-7);
// the trace sessions measure what that does to masks (docs/benchmarks.md).
func TestBF16AttentionParity(t *testing.T) {
	if !bf16op.Fast() {
		// The portable kernel is checked on small shapes in bf16op; at the
		// fixture's size (28,736 keys) it would take minutes per call.
		t.Skip("this CPU has no AVX-512 BF16")
	}
	rt := newTestRuntime(t)
	m, err := Open(rt, fixtureDir(t), Options{Provider: ProviderCPU, Threads: 2, Attention: AttentionBF16, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	t.Run("image_encoder", func(t *testing.T) { imageEncoderParity(t, m, bf16ParityTol) })
	for _, name := range []string{"memory_attention", "memory_attention_p0"} {
		t.Run(name, func(t *testing.T) { memoryAttentionParity(t, m, name, bf16ParityTol) })
	}
}

func TestAttentionOption(t *testing.T) {
	rt := newTestRuntime(t)
	_, err := Open(rt, fixtureDir(t), Options{Provider: ProviderCPU, Attention: "fp8", Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), `attention "fp8"`) {
		t.Errorf("unknown attention: got %v, want it named", err)
	}
}

// TestBF16AttentionMatchesMultiHeadAttention rewrites a small graph with two
// four-head attentions, one of which has an attribute the operator does not
// take (left alone), and compares the operator with ONNX Runtime's own
// MultiHeadAttention on the same inputs: heads, scale and layout survive.
func TestBF16AttentionMatchesMultiHeadAttention(t *testing.T) {
	rt := newTestRuntime(t)
	if rt.opsErr != nil {
		t.Fatal(rt.opsErr)
	}
	orig, err := os.ReadFile(filepath.Join("testdata", "mha.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	rewritten, n, err := rewriteBF16(nil, orig, bf16Ops{attention: true})
	if err != nil || n.attentions != 1 {
		t.Fatalf("rewrite: %d nodes, %v; want 1 (the masked one stays)", n.attentions, err)
	}
	run := func(model []byte, ops bool) []float32 {
		opts, err := ort.NewSessionOptions()
		if err != nil {
			t.Fatal(err)
		}
		defer opts.Destroy()
		if ops {
			if err := rt.ops.AddTo(opts); err != nil {
				t.Fatal(err)
			}
		}
		s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"query", "key", "value"}, []string{"output", "masked"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		const b, nq, nk = 2, 37, 53
		in := make([]ort.Value, 3)
		for i, rows := range []int{nq, nk, nk} {
			data := HashUniform(b*rows*8, uint32(i+1), 2)
			v, err := ort.NewTensor(ort.NewShape(b, int64(rows), 8), data)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Destroy()
			in[i] = v
		}
		out := []ort.Value{nil, nil}
		if err := s.Run(in, out); err != nil {
			t.Fatal(err)
		}
		defer out[0].Destroy()
		defer out[1].Destroy()
		return append(append([]float32(nil), out[0].(*ort.Tensor[float32]).GetData()...), out[1].(*ort.Tensor[float32]).GetData()...)
	}
	want, got := run(orig, false), run(rewritten, true)
	var maxDiff, size float64
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		size = max(size, math.Abs(float64(want[i])))
	}
	t.Logf("bf16 operator vs MultiHeadAttention: max difference %.3g, output size %.3g", maxDiff, size)
	if maxDiff > 1e-2*size {
		t.Errorf("max difference %.3g (output size %.3g)", maxDiff, size)
	}
}

// FuzzRewriteBF16Attention: the rewrite (attention and matmul) never panics on a corrupt graph;
// what it accepts it leaves parseable, and a second pass replaces nothing.
func FuzzRewriteBF16Attention(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "mha.onnx")); err == nil {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0x3a, 0x05, 0x0a, 0x03, 0x22, 0x01, 0x41})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, n, err := rewriteBF16(nil, b, bf16Ops{attention: true, matmul: true})
		if err != nil {
			return
		}
		if err := pbRawFields(out, func(int, int, uint64, []byte, []byte) error { return nil }); err != nil {
			t.Fatalf("rewrote %d nodes into an unparseable model: %v", n.nodes(), err)
		}
		if _, again, err := rewriteBF16(nil, out, bf16Ops{attention: true, matmul: true}); err != nil || again.nodes() != 0 {
			t.Fatalf("second pass: %d nodes, %v", again.nodes(), err)
		}
	})
}
