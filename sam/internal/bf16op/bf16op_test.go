package bf16op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// ortLib is the library the tests load: VIDSEG_ORT_LIB or the bundled copy
// (make setup) in a parent directory.
func ortLib() string {
	if p := os.Getenv("VIDSEG_ORT_LIB"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for ; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "third_party/onnxruntime/lib/libonnxruntime.so.1")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}

var libPath string

func TestMain(m *testing.M) {
	if libPath = ortLib(); libPath != "" {
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			fmt.Fprintln(os.Stderr, "initialize ONNX Runtime:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if libPath != "" {
		ort.DestroyEnvironment()
	}
	os.Exit(code)
}

func needORT(t *testing.T) {
	t.Helper()
	if libPath == "" {
		t.Skip("ONNX Runtime not available (make setup)")
	}
}

// session opens an attention model with the domain added (nil: not added).
func session(t testing.TB, d *Domain, model string, threads int) (*ort.DynamicAdvancedSession, error) {
	t.Helper()
	return openSession(t, d, model, []string{"query", "key", "value"}, threads)
}

// openSession opens testdata/model with inputs and one output, "output".
func openSession(t testing.TB, d *Domain, model string, inputs []string, threads int) (*ort.DynamicAdvancedSession, error) {
	t.Helper()
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		t.Fatal(err)
	}
	if d != nil {
		if err := d.AddTo(opts); err != nil {
			t.Fatalf("AddTo: %v", err)
		}
	}
	return ort.NewDynamicAdvancedSession(filepath.Join("testdata", model), inputs, []string{"output"}, opts)
}

func run(t testing.TB, s *ort.DynamicAdvancedSession, b, nq, nk, d, dv int, q, k, v []float32) ([]float32, error) {
	t.Helper()
	tq, _ := ort.NewTensor(ort.NewShape(int64(b), int64(nq), int64(d)), q)
	tk, _ := ort.NewTensor(ort.NewShape(int64(b), int64(nk), int64(d)), k)
	tv, _ := ort.NewTensor(ort.NewShape(int64(b), int64(nk), int64(dv)), v)
	defer tq.Destroy()
	defer tk.Destroy()
	defer tv.Destroy()
	out := []ort.Value{nil}
	if err := s.Run([]ort.Value{tq, tk, tv}, out); err != nil {
		return nil, err
	}
	defer out[0].Destroy()
	return append([]float32(nil), out[0].(*ort.Tensor[float32]).GetData()...), nil
}

// reference is softmax(scale q k^T) v per head in float64, without
// rounding; heads sit side by side in the last dimension.
func reference(b, nq, nk, d, dv, heads int, scale float64, q, k, v []float32) []float64 {
	out := make([]float64, b*nq*dv)
	s := make([]float64, nk)
	dh, dvh := d/heads, dv/heads
	for bi := range b {
		for h := range heads {
			for i := range nq {
				m := math.Inf(-1)
				for j := range nk {
					var a float64
					for c := range dh {
						a += float64(q[(bi*nq+i)*d+h*dh+c]) * float64(k[(bi*nk+j)*d+h*dh+c])
					}
					s[j] = a * scale
					m = max(m, s[j])
				}
				var l float64
				for j := range nk {
					s[j] = math.Exp(s[j] - m)
					l += s[j]
				}
				for c := range dvh {
					var o float64
					for j := range nk {
						o += s[j] * float64(v[(bi*nk+j)*dv+h*dvh+c])
					}
					out[(bi*nq+i)*dv+h*dvh+c] = o / l
				}
			}
		}
	}
	return out
}

func random(r *rand.Rand, n int, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * amp)
	}
	return x
}

// TestAttention runs the operator in ONNX Runtime on shapes that cover the
// kernel's edges (partial query blocks and key blocks, odd key counts, one
// key, value widths 64 to 256, batches) and compares it with float64
// attention. bfloat16 has 8 significant bits: errors up to a few 1e-3 of
// the output's scale are rounding; a wrong scale, softmax or layout gives
// errors of the order of the output itself.
func TestAttention(t *testing.T) {
	kernels := testKernels(t)
	cases := []struct{ b, nq, nk, d, dv, heads int }{
		{1, 5, 1, 2, 64, 1},
		{1, 100, 300, 256, 64, 1},
		{2, 97, 29, 16, 128, 1},
		{1, 200, 513, 64, 256, 1},
		{3, 7, 256, 32, 64, 1},
		{1, 33, 70, 8, 48, 1},
		{1, 33, 70, 8, 40, 1},     // value width the fast kernel does not take
		{2, 130, 64, 384, 384, 4}, // the image encoder's global attention, smaller
		{5, 64, 64, 64, 128, 4},   // windows as batch entries
		{300, 4, 4, 96, 96, 4},    // many small windows: each packs its own operands
	}
	results := map[string][]float32{}
	for _, fast := range kernels {
		d, err := open(libPath, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		one, err := session(t, d, "bf16attention.onnx", 2)
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		defer one.Destroy()
		four, err := session(t, d, "heads.onnx", 2)
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		defer four.Destroy()
		for i, c := range cases {
			s, scale := one, 0.125 // the models' attributes
			if c.heads == 4 {
				s, scale = four, 1/math.Sqrt(float64(c.d/4))
			}
			r := rand.New(rand.NewPCG(uint64(i), 7))
			q := random(r, c.b*c.nq*c.d, 1)
			k := random(r, c.b*c.nk*c.d, 1)
			v := random(r, c.b*c.nk*c.dv, 1)
			got, err := run(t, s, c.b, c.nq, c.nk, c.d, c.dv, q, k, v)
			if err != nil {
				t.Fatalf("%+v fast=%v: %v", c, fast, err)
			}
			want := reference(c.b, c.nq, c.nk, c.d, c.dv, c.heads, scale, q, k, v)
			var maxErr, size float64
			for j := range want {
				maxErr = max(maxErr, math.Abs(float64(got[j])-want[j]))
				size = max(size, math.Abs(want[j]))
			}
			t.Logf("%+v fast=%v: max error %.3g, output size %.3g", c, fast, maxErr, size)
			if maxErr > 1e-2*size {
				t.Errorf("%+v fast=%v: max error %.3g against float64 (output size %.3g)", c, fast, maxErr, size)
			}
			key := fmt.Sprint(i)
			if prev, ok := results[key]; ok {
				// Same rounding of the operands: the kernels differ only in
				// summation order and exp.
				var diff float64
				for j := range got {
					diff = max(diff, math.Abs(float64(got[j]-prev[j])))
				}
				t.Logf("%+v: fast - portable max %.3g", c, diff)
				if diff > 2e-3*size {
					t.Errorf("%+v: fast and portable kernels differ by %.3g (output size %.3g)", c, diff, size)
				}
			}
			results[key] = got
		}
	}
}

// testKernels says which kernels a test runs: the portable one, and the
// AVX-512 BF16 one where this CPU has it. It skips without ONNX Runtime.
func testKernels(t *testing.T) []bool {
	t.Helper()
	needORT(t)
	if !Fast() {
		t.Log("this CPU has no AVX-512 BF16: testing the portable kernel only")
		return []bool{false}
	}
	return []bool{false, true}
}

// testDomain opens the operators for a test, closed at its end.
func testDomain(t *testing.T) *Domain {
	t.Helper()
	needORT(t)
	d, err := Open(libPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestErrors(t *testing.T) {
	d := testDomain(t)

	if _, err := session(t, nil, "bf16attention.onnx", 1); err == nil || !strings.Contains(err.Error(), "Bf16Attention") {
		t.Errorf("without the domain: got %v, want an error naming the operator", err)
	}
	if s, err := session(t, d, "badheads.onnx", 1); err == nil {
		s.Destroy()
		t.Error("a node with num_heads 0 loaded")
	} else if !strings.Contains(err.Error(), "num_heads must be positive") {
		t.Errorf("num_heads 0: got %v, want it named", err)
	}

	s, err := session(t, d, "bf16attention.onnx", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	for _, c := range []struct {
		nq, nk, d, nkv, dq int
		want               string
	}{
		{4, 6, 8, 5, 8, "6 keys, 5 values"},
		{4, 6, 8, 6, 10, "query width 10, key width 8"},
		{4, 6, 3, 6, 3, "unsupported sizes"},
	} {
		q := make([]float32, c.nq*c.dq)
		k := make([]float32, c.nk*c.d)
		v := make([]float32, c.nkv*64)
		tq, _ := ort.NewTensor(ort.NewShape(1, int64(c.nq), int64(c.dq)), q)
		tk, _ := ort.NewTensor(ort.NewShape(1, int64(c.nk), int64(c.d)), k)
		tv, _ := ort.NewTensor(ort.NewShape(1, int64(c.nkv), 64), v)
		out := []ort.Value{nil}
		err := s.Run([]ort.Value{tq, tk, tv}, out)
		tq.Destroy()
		tk.Destroy()
		tv.Destroy()
		if err == nil {
			out[0].Destroy()
			t.Errorf("%+v ran", c)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c, err, c.want)
		}
	}
	four, err := session(t, d, "heads.onnx", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer four.Destroy()
	if _, err := run(t, four, 1, 2, 3, 6, 8, make([]float32, 2*6), make([]float32, 3*6), make([]float32, 3*8)); err == nil ||
		!strings.Contains(err.Error(), "do not split into num_heads heads") {
		t.Errorf("width 6 in 4 heads: got %v", err)
	}

}

// BenchmarkCrossAttention is the memory attention's cross-attention with a
// full bank (7 frames of 64x64 memory and 16 object pointers of 4 tokens)
// through ONNX Runtime.
func BenchmarkCrossAttention(b *testing.B) {
	d := benchDomain(b)
	s, err := session(b, d, "bf16attention.onnx", 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	const nq, nk, dim, dv = 4096, 7*4096 + 64, 256, 64
	r := rand.New(rand.NewPCG(1, 2))
	q, k, v := random(r, nq*dim, 1), random(r, nk*dim, 1), random(r, nk*dv, 1)
	b.ResetTimer()
	for range b.N {
		if _, err := run(b, s, 1, nq, nk, dim, dv, q, k, v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(nq)*nk*(dim+dv)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// benchDomain opens the operators for a benchmark, closed at its end.
func benchDomain(b *testing.B) *Domain {
	if libPath == "" {
		b.Skip("ONNX Runtime not available (make setup)")
	}
	d, err := Open(libPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	b.Logf("AVX-512 BF16 kernel: %v", d.Accelerated())
	return d
}

// checkKernel fails when a kernel's max error against float64 (what) is
// above bound, and, once results holds the other kernel's output for key,
// when the two kernels differ by more than agree: they round the same
// operands, so only the summation order (and erf's last bits) differ.
func checkKernel(t *testing.T, results map[int][]float32, key int, what string, got []float32, maxErr, bound, agree float64) {
	t.Helper()
	t.Logf("%s: max error %.3g (bound %.3g)", what, maxErr, bound)
	if maxErr > bound {
		t.Errorf("%s: max error %.3g against float64, bound %.3g", what, maxErr, bound)
	}
	if prev, ok := results[key]; ok {
		var diff float64
		for j := range got {
			diff = max(diff, math.Abs(float64(got[j]-prev[j])))
		}
		t.Logf("%s: fast - portable max %.3g", what, diff)
		if diff > agree {
			t.Errorf("%s: fast and portable kernels differ by %.3g (bound %.3g)", what, diff, agree)
		}
	}
	results[key] = got
}

// tensor is a float32 input's shape and data.
type tensor struct {
	shape ort.Shape
	data  []float32
}

// tensors makes ONNX Runtime values of ts, destroyed when the test ends.
func tensors(t testing.TB, ts ...tensor) []ort.Value {
	t.Helper()
	vs := make([]ort.Value, 0, len(ts))
	for _, x := range ts {
		v, err := ort.NewTensor(x.shape, x.data)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Destroy() })
		vs = append(vs, v)
	}
	return vs
}
