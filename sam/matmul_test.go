package sam

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// TestRewriteBF16MatMul rewrites the fixture's image encoder: every MatMul
// has a constant weight (the exporter shares them through Identity nodes),
// so none is left, and each linear layer's bias Add goes into its node.
func TestRewriteBF16MatMul(t *testing.T) {
	path := filepath.Join(fixtureDir(t), "image_encoder.onnx")
	before, after, c, tmp := rewriteChecked(t, path)
	t.Logf("MatMul %d, Add %d -> Bf16MatMul %d (%d with their bias), MatMul %d, Add %d", before["MatMul"], before["Add"],
		after[bf16op.MatMulOpName], c.biases, after["MatMul"], after["Add"])
	if c.matmuls != before["MatMul"] || after["MatMul"] != 0 || after[bf16op.MatMulOpName] != c.matmuls {
		t.Errorf("%d of %d MatMuls replaced, %d left, %d operator nodes", c.matmuls, before["MatMul"], after["MatMul"], after[bf16op.MatMulOpName])
	}
	// The neck's 1x1 convolutions go to Bf16Conv1x1, one with its residual.
	if c.biases == 0 || after["Add"] != before["Add"]-c.biases-c.residuals {
		t.Errorf("%d biases and %d residuals taken in; Add nodes %d -> %d", c.biases, c.residuals, before["Add"], after["Add"])
	}
	if c.attentions != 0 || after[bf16op.OpName] != 0 {
		t.Errorf("attentions replaced without being asked: %d", c.attentions)
	}
	// A graph with no product left is refused, naming why.
	if _, _, _, err := bf16GraphData(tmp, bf16Ops{matmul: true}); err == nil || !strings.Contains(err.Error(), "no float32 MatMul with a constant weight nor channel mixer") {
		t.Errorf("graph without MatMul: got %v", err)
	}
}

// rewriteChecked rewrites the graph at path for --matmul bf16 and checks
// what every such rewrite must keep: the graph's inputs and outputs, and
// nothing left to rewrite a second time. It returns the op counts before
// and after, what was replaced, and the rewritten file.
func rewriteChecked(t *testing.T, path string) (before, after map[string]int, c bf16Count, rewritten string) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, c, err := rewriteBF16(nil, orig, bf16Ops{matmul: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, again, err := rewriteBF16(nil, out, bf16Ops{matmul: true}); err != nil || again.nodes() != 0 {
		t.Errorf("rewriting again: %+v, %v; want nothing", again, err)
	}
	rewritten = filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(rewritten, out, 0o644); err != nil {
		t.Fatal(err)
	}
	in1, out1, err1 := graphIO(path)
	in2, out2, err2 := graphIO(rewritten)
	if err1 != nil || err2 != nil || !slices.EqualFunc(in1, in2, sameIO) || !slices.EqualFunc(out1, out2, sameIO) {
		t.Errorf("graph inputs/outputs changed: %v %v / %v %v (%v, %v)", in1, out1, in2, out2, err1, err2)
	}
	return opCounts(t, orig), opCounts(t, out), c, rewritten
}

// TestRewriteBF16MemoryAttention rewrites the EdgeTAM fixture's memory
// attention: its projections (MatMul of a Transpose'd weight) and its MLPs
// (Gemm, the first followed by Relu) all go to Bf16MatMul, the Transposes
// of their weights, the Relus and the bias Adds with them.
func TestRewriteBF16MemoryAttention(t *testing.T) {
	before, after, c, _ := rewriteChecked(t, filepath.Join(testutil.EdgeTAMModel(t), "memory_attention.onnx"))
	t.Logf("%+v; before %v; after %v", c, before, after)
	if after["Gemm"] != 0 || after["Relu"] != 0 || c.matmuls != after[bf16op.MatMulOpName] || c.matmuls < before["Gemm"]+16 {
		t.Errorf("rewrite %+v: Gemm %d -> %d, Relu %d -> %d, %d operator nodes", c, before["Gemm"], after["Gemm"],
			before["Relu"], after["Relu"], after[bf16op.MatMulOpName])
	}
	// Only the Transposes of the products' weights go with them: none in a
	// folded package, which stores its weights transposed already (the
	// unfolded form: TestRewriteBF16TransposedWeight).
	orig, err := os.ReadFile(filepath.Join(testutil.EdgeTAMModel(t), "memory_attention.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if taken, want := before["Transpose"]-after["Transpose"], transposedWeights(t, orig); taken != want {
		t.Errorf("%d Transposes dropped for %d products of a transposed weight", taken, want)
	}
	if before["Add"]-after["Add"] != c.biases-before["Gemm"] {
		t.Errorf("Add %d -> %d for %d biases (%d of them Gemm's C)", before["Add"], after["Add"], c.biases, before["Gemm"])
	}
}

// transposedWeights counts the MatMul nodes whose right operand is a
// Transpose of a weight (as the bf16 rewrite finds them).
func transposedWeights(t *testing.T, model []byte) int {
	t.Helper()
	g, err := scanGraph(graphOf(t, model))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, n := range g.nodes {
		if n.opType != "MatMul" || len(n.inputs) != 2 {
			continue
		}
		if _, ok := g.weight(n.inputs[1]); ok {
			continue
		}
		if _, _, _, ok := g.transposed(n.inputs[1]); ok {
			count++
		}
	}
	return count
}

// opCounts counts a ModelProto's nodes by op type.
func opCounts(t *testing.T, model []byte) map[string]int {
	t.Helper()
	count := map[string]int{}
	for _, n := range nodesOf(t, model) {
		count[n.opType]++
	}
	return count
}

// nodesOf returns a ModelProto's nodes in order.
func nodesOf(t *testing.T, model []byte) []pbNode {
	t.Helper()
	var nodes []pbNode
	_ = pbFields(graphOf(t, model), func(field, wire int, _ uint64, data []byte) error {
		if field == pbGraphNode && wire == 2 {
			n, err := parseNode(data)
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		return nil
	})
	return nodes
}

// graphOf returns a ModelProto's GraphProto.
func graphOf(t *testing.T, model []byte) []byte {
	t.Helper()
	var g []byte
	if err := pbFields(model, func(field, wire int, _ uint64, data []byte) error {
		if field == pbModelGraph && wire == 2 {
			g = data
		}
		return nil
	}); err != nil || g == nil {
		t.Fatalf("no graph: %v", err)
	}
	return g
}

// bf16MatMulParityTol bounds the image encoder's error against PyTorch with
// its weight products in bfloat16, relative to the output's largest value:
// every activation entering a linear layer is rounded (measured 4.4e-3 on
// vision_feat, bf16 attention alone under 2e-3); the trace sessions measure
// what it does to masks (docs/benchmarks.md).
const bf16MatMulParityTol = 1e-2

// TestBF16MatMulParity runs the fixture's image encoder with its weight
// products in the bf16 operator, alone and with the bf16 attention, against
// PyTorch's float32 outputs.
func TestBF16MatMulParity(t *testing.T) {
	if !bf16op.Fast() {
		t.Skip("this CPU has no AVX-512 BF16")
	}
	rt := newTestRuntime(t)
	for _, attention := range []string{AttentionFP32, AttentionBF16} {
		t.Run("attention_"+attention, func(t *testing.T) {
			m, err := Open(rt, fixtureDir(t), Options{Provider: ProviderCPU, Threads: 2, Attention: attention, MatMul: MatMulBF16, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			imageEncoderParity(t, m, bf16MatMulParityTol)
		})
	}
}

func TestMatMulOption(t *testing.T) {
	rt := newTestRuntime(t)
	_, err := Open(rt, fixtureDir(t), Options{Provider: ProviderCPU, MatMul: "int4", Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), `matmul "int4"`) {
		t.Errorf("unknown matmul: got %v, want it named", err)
	}
}

// A package exported before fold.py reads its weights through Transposes
// (one of them under the fp16 storage's Cast): the rewrite takes both
// products with their Transposes, and the operator computes what ONNX
// Runtime's MatMul of the transposed weight does (bf16 products).
// testdata/transposed_weight.py writes the graph.
func TestRewriteBF16TransposedWeight(t *testing.T) {
	rt := newTestRuntime(t)
	if rt.opsErr != nil {
		t.Fatal(rt.opsErr)
	}
	path := filepath.Join("testdata", "transposed_weight.onnx")
	before, after, c, _ := rewriteChecked(t, path)
	t.Logf("%+v; before %v; after %v", c, before, after)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := transposedWeights(t, orig); n != 2 {
		t.Fatalf("%d products of a transposed weight found, want 2", n)
	}
	if c.matmuls != 2 || after["Transpose"] != 0 || after["MatMul"] != 0 {
		t.Errorf("rewrite %+v: Transpose %d, MatMul %d left", c, after["Transpose"], after["MatMul"])
	}
	rewritten, _, err := rewriteBF16(nil, orig, bf16Ops{matmul: true})
	if err != nil {
		t.Fatal(err)
	}
	x := HashUniform(2*5*64, 3, 2)
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
		s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"x"}, []string{"y"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		in, err := ort.NewTensor(ort.NewShape(2, 5, 64), x)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Destroy()
		out := []ort.Value{nil}
		if err := s.Run([]ort.Value{in}, out); err != nil {
			t.Fatal(err)
		}
		defer out[0].Destroy()
		return slices.Clone(out[0].(*ort.Tensor[float32]).GetData())
	}
	want, got := run(orig, false), run(rewritten, true)
	var maxDiff, size float64
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		size = max(size, math.Abs(float64(want[i])))
	}
	t.Logf("bf16 products vs MatMul of the transposed weights: max difference %.3g, output size %.3g", maxDiff, size)
	if maxDiff > 2e-2*size {
		t.Errorf("max difference %.3g (output size %.3g): the weight's transpose was not honoured", maxDiff, size)
	}
}
