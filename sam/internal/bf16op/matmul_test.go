package bf16op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// testdata/matmul.onnx is one ai.vidseg.Bf16MatMul node with inputs a
// [batch, rows, k], b [k, n] and bias [n]; matmul_nobias.onnx the same
// without bias (onnx.helper, opset 17 + ai.vidseg 1).

func matmulSession(t testing.TB, d *Domain, bias bool, threads int) *ort.DynamicAdvancedSession {
	t.Helper()
	model, inputs := "matmul_nobias.onnx", []string{"a", "b"}
	if bias {
		model, inputs = "matmul.onnx", []string{"a", "b", "bias"}
	}
	s, err := openSession(t, d, model, inputs, threads)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return s
}

// matmul runs the session on a [batch, rows, k], b [k, n] and bias (nil: the
// session has no bias input) and returns the output and its shape.
func matmul(t testing.TB, s *ort.DynamicAdvancedSession, batch, rows, k, n int, a, b, bias []float32) ([]float32, ort.Shape, error) {
	t.Helper()
	ta, _ := ort.NewTensor(ort.NewShape(int64(batch), int64(rows), int64(k)), a)
	tb, _ := ort.NewTensor(ort.NewShape(int64(k), int64(n)), b)
	defer ta.Destroy()
	defer tb.Destroy()
	in := []ort.Value{ta, tb}
	if bias != nil {
		tc, _ := ort.NewTensor(ort.NewShape(int64(len(bias))), bias)
		defer tc.Destroy()
		in = append(in, tc)
	}
	out := []ort.Value{nil}
	if err := s.Run(in, out); err != nil {
		return nil, nil, err
	}
	defer out[0].Destroy()
	o := out[0].(*ort.Tensor[float32])
	return append([]float32(nil), o.GetData()...), o.GetShape(), nil
}

// TestMatMul compares the operator with float64 products on shapes that
// cover the kernel's edges: row counts that end inside a register tile and
// a row block, odd k (a zero-padded pair), n not a multiple of 16 or 32,
// one row, one column, and the encoder's widths. Operands are rounded to
// bfloat16 (8 significant bits): the error of a sum of k products is a few
// 1e-3 of sqrt(k); a wrong layout or a lost bias is of the order of 1.
func TestMatMul(t *testing.T) {
	kernels := testKernels(t)
	cases := []struct {
		batch, rows, k, n int
		bias              bool
	}{
		{1, 1, 1, 1, true},
		{1, 13, 96, 288, true},
		{2, 100, 97, 33, true},
		{1, 193, 192, 576, false},
		{3, 7, 31, 17, false},
		{1, 96, 384, 1536, true},
		{1, 200, 1536, 40, true},
	}
	results := map[int][]float32{}
	for _, fast := range kernels {
		d, err := open(libPath, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		withBias, noBias := matmulSession(t, d, true, 2), matmulSession(t, d, false, 2)
		defer withBias.Destroy()
		defer noBias.Destroy()
		for i, c := range cases {
			r := rand.New(rand.NewPCG(uint64(i), 11))
			a := random(r, c.batch*c.rows*c.k, 1)
			b := random(r, c.k*c.n, 1)
			var bias []float32
			s := noBias
			if c.bias {
				bias, s = random(r, c.n, 1), withBias
			}
			got, shape, err := matmul(t, s, c.batch, c.rows, c.k, c.n, a, b, bias)
			if err != nil {
				t.Fatalf("%+v fast=%v: %v", c, fast, err)
			}
			if want := ort.NewShape(int64(c.batch), int64(c.rows), int64(c.n)); shape.String() != want.String() {
				t.Fatalf("%+v fast=%v: output shape %v, want %v", c, fast, shape, want)
			}
			var maxErr float64
			for row := range c.batch * c.rows {
				for j := range c.n {
					want := 0.0
					if bias != nil {
						want = float64(bias[j])
					}
					for x := range c.k {
						want += float64(a[row*c.k+x]) * float64(b[x*c.n+j])
					}
					maxErr = max(maxErr, math.Abs(float64(got[row*c.n+j])-want))
				}
			}
			checkKernel(t, results, i, fmt.Sprintf("%+v fast=%v", c, fast), got, maxErr,
				2e-2*math.Sqrt(float64(c.k)), 1e-4*math.Sqrt(float64(c.k)))
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	s := matmulSession(t, testDomain(t), true, 1)
	defer s.Destroy()
	run := func(k, kb, n, nbias int) error {
		ta, _ := ort.NewTensor(ort.NewShape(1, 3, int64(k)), make([]float32, 3*k))
		tb, _ := ort.NewTensor(ort.NewShape(int64(kb), int64(n)), make([]float32, kb*n))
		tc, _ := ort.NewTensor(ort.NewShape(int64(nbias)), make([]float32, nbias))
		defer ta.Destroy()
		defer tb.Destroy()
		defer tc.Destroy()
		out := []ort.Value{nil}
		err := s.Run([]ort.Value{ta, tb, tc}, out)
		if err == nil {
			out[0].Destroy()
		}
		return err
	}
	if err := run(8, 7, 4, 4); err == nil || !strings.Contains(err.Error(), "weight has 7 rows, input width 8") {
		t.Errorf("k 8 against a weight of 7 rows: got %v", err)
	}
	if err := run(8, 8, 4, 5); err == nil || !strings.Contains(err.Error(), "bias must be [4]") {
		t.Errorf("bias of 5 for 4 columns: got %v", err)
	}
	if err := run(8, 8, 4, 4); err != nil {
		t.Errorf("matching shapes: %v", err)
	}
}

// BenchmarkMatMul is the image encoder's stage 3 MLP (4096 tokens, 384 ->
// 1536) through ONNX Runtime.
func BenchmarkMatMul(b *testing.B) {
	s := matmulSession(b, benchDomain(b), true, 0)
	defer s.Destroy()
	const rows, k, n = 4096, 384, 1536
	r := rand.New(rand.NewPCG(1, 2))
	a, w, bias := random(r, rows*k, 1), random(r, k*n, 1), random(r, n, 1)
	b.ResetTimer()
	for range b.N {
		if _, _, err := matmul(b, s, 1, rows, k, n, a, w, bias); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(rows)*k*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestMatMulTransBRelu runs testdata/matmul_transb_relu.onnx, the operator
// with attributes transB=1 (the weight stored [n, k], as Gemm's and a
// Transpose'd MatMul weight) and relu=1 (max(0, .) after the bias, as
// FusedGemm's Relu), against float64, on both kernels; the output's last
// dimension comes from the weight's first (shape inference and kernel).
func TestMatMulTransBRelu(t *testing.T) {
	for _, fast := range testKernels(t) {
		d, err := open(libPath, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		s, err := openSession(t, d, "matmul_transb_relu.onnx", []string{"a", "b", "bias"}, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		for i, c := range []struct{ batch, rows, k, n int }{{1, 13, 96, 288}, {2, 100, 97, 33}, {1, 200, 256, 2048}} {
			r := rand.New(rand.NewPCG(uint64(i), 29))
			a, w, bias := random(r, c.batch*c.rows*c.k, 1), random(r, c.n*c.k, 1), random(r, c.n, 1)
			ta, _ := ort.NewTensor(ort.NewShape(int64(c.batch), int64(c.rows), int64(c.k)), a)
			tb, _ := ort.NewTensor(ort.NewShape(int64(c.n), int64(c.k)), w)
			tc, _ := ort.NewTensor(ort.NewShape(int64(c.n)), bias)
			out := []ort.Value{nil}
			err := s.Run([]ort.Value{ta, tb, tc}, out)
			ta.Destroy()
			tb.Destroy()
			tc.Destroy()
			if err != nil {
				t.Fatalf("%+v fast=%v: %v", c, fast, err)
			}
			o := out[0].(*ort.Tensor[float32])
			got, shape := append([]float32(nil), o.GetData()...), o.GetShape()
			out[0].Destroy()
			if want := ort.NewShape(int64(c.batch), int64(c.rows), int64(c.n)); shape.String() != want.String() {
				t.Fatalf("%+v fast=%v: output shape %v, want %v", c, fast, shape, want)
			}
			var maxErr float64
			negatives := 0
			for row := range c.batch * c.rows {
				for j := range c.n {
					want := float64(bias[j])
					for x := range c.k {
						want += float64(a[row*c.k+x]) * float64(w[j*c.k+x])
					}
					if want < 0 {
						want, negatives = 0, negatives+1
					}
					maxErr = max(maxErr, math.Abs(float64(got[row*c.n+j])-want))
				}
			}
			bound := 2e-2 * math.Sqrt(float64(c.k))
			t.Logf("%+v fast=%v: max error %.3g (bound %.3g), %d clipped", c, fast, maxErr, bound, negatives)
			if maxErr > bound || negatives == 0 {
				t.Errorf("%+v fast=%v: max error %.3g against float64, bound %.3g (%d clipped)", c, fast, maxErr, bound, negatives)
			}
		}
	}
}

// TestMatMulShapeInference opens graphs where the operator's output (with
// and without transB) feeds a Mul by a [4] constant: ONNX Runtime checks
// the broadcast against the operator's inferred output, [batch, rows, 4],
// so a wrong output width fails the session's creation; a run checks the
// values (ones times ones over k = 8, times 2).
func TestMatMulShapeInference(t *testing.T) {
	d := testDomain(t)
	for _, model := range []string{"matmul_then_mul.onnx", "matmul_transb_then_mul.onnx"} {
		s, err := openSession(t, d, model, []string{"a"}, 1)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		a := make([]float32, 2*3*8)
		for i := range a {
			a[i] = 1
		}
		ta, _ := ort.NewTensor(ort.NewShape(2, 3, 8), a)
		out := []ort.Value{nil}
		err = s.Run([]ort.Value{ta}, out)
		ta.Destroy()
		s.Destroy()
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		o := out[0].(*ort.Tensor[float32])
		if got := o.GetShape(); got.String() != ort.NewShape(2, 3, 4).String() || o.GetData()[0] != 16 {
			t.Errorf("%s: output %v, first value %v; want [2 3 4], 16", model, got, o.GetData()[0])
		}
		out[0].Destroy()
	}
}
