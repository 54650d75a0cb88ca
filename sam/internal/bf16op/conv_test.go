package bf16op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// testdata/conv1x1.onnx is one ai.vidseg.Bf16Conv1x1 node with inputs x [n,
// cin, h, w], w [cout, cin, 1, 1], bias [cout] and res [n, cout, h, w];
// conv1x1_plain.onnx the same with x and w only (onnx.helper, opset 17 +
// ai.vidseg 1).

type convCase struct {
	n, cin, cout, h, w int
	bias, res          bool
	resOne             bool // the residual is one image for the batch
}

// conv runs the operator; full says which session (with bias and residual
// inputs) runs it.
func conv(t testing.TB, full, plain *ort.DynamicAdvancedSession, c convCase, x, w, bias, res []float32) ([]float32, ort.Shape, error) {
	t.Helper()
	var in []ort.Value
	add := func(shape ort.Shape, data []float32) {
		v, err := ort.NewTensor(shape, data)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, v)
	}
	add(ort.NewShape(int64(c.n), int64(c.cin), int64(c.h), int64(c.w)), x)
	add(ort.NewShape(int64(c.cout), int64(c.cin), 1, 1), w)
	s := plain
	if bias != nil || res != nil {
		// The full graph takes both: zeros stand in for the one not asked.
		s = full
		if bias == nil {
			bias = make([]float32, c.cout)
		}
		resN := c.n
		if c.resOne {
			resN = 1
		}
		if res == nil {
			res = make([]float32, resN*c.cout*c.h*c.w)
		}
		add(ort.NewShape(int64(c.cout)), bias)
		add(ort.NewShape(int64(resN), int64(c.cout), int64(c.h), int64(c.w)), res)
	}
	defer func() {
		for _, v := range in {
			v.Destroy()
		}
	}()
	out := []ort.Value{nil}
	if err := s.Run(in, out); err != nil {
		return nil, nil, err
	}
	defer out[0].Destroy()
	o := out[0].(*ort.Tensor[float32])
	return append([]float32(nil), o.GetData()...), o.GetShape(), nil
}

func convSessions(t testing.TB, d *Domain, threads int) (full, plain *ort.DynamicAdvancedSession) {
	t.Helper()
	full, err := openSession(t, d, "conv1x1.onnx", []string{"x", "w", "bias", "res"}, threads)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	plain, err = openSession(t, d, "conv1x1_plain.onnx", []string{"x", "w"}, threads)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return full, plain
}

// TestConv1x1 compares the pointwise convolution with float64 sums on shapes
// that cover the kernel's edges: pixel counts that end inside a 16- and a
// 32-pixel panel and inside a task's block, odd input channels (a
// zero-padded pair), output channels that end inside a register tile,
// batches, with and without bias and residual (also one residual image for
// a batch, as the memory encoder adds), and RepViT's widths. As for
// TestMatMul, rounding to bfloat16 gives errors of a few 1e-3 of sqrt(cin);
// a wrong layout, a lost bias or residual, or a pixel of the wrong image
// is of the order of 1. The fast and portable kernels round the same
// operands and differ only in summation order.
func TestConv1x1(t *testing.T) {
	kernels := testKernels(t)
	cases := []convCase{
		{1, 1, 1, 1, 1, true, false, false},
		{1, 48, 96, 16, 16, true, false, false},
		{2, 97, 13, 7, 9, true, true, false},
		{1, 96, 48, 33, 31, false, true, false},
		{3, 5, 25, 3, 50, false, false, false},
		{1, 384, 192, 12, 12, true, true, false},
		{1, 768, 384, 4, 8, true, false, false},
		{3, 256, 256, 8, 8, true, true, true},
	}
	results := map[int][]float32{}
	for _, fast := range kernels {
		d, err := open(libPath, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		full, plain := convSessions(t, d, 2)
		defer full.Destroy()
		defer plain.Destroy()
		for i, c := range cases {
			r := rand.New(rand.NewPCG(uint64(i), 17))
			p := c.h * c.w
			x, w := random(r, c.n*c.cin*p, 1), random(r, c.cout*c.cin, 1)
			var bias, res []float32
			if c.bias {
				bias = random(r, c.cout, 1)
			}
			if c.res {
				res = random(r, c.n*c.cout*p, 1)
				if c.resOne {
					res = random(r, c.cout*p, 1)
				}
			}
			got, shape, err := conv(t, full, plain, c, x, w, bias, res)
			if err != nil {
				t.Fatalf("%+v fast=%v: %v", c, fast, err)
			}
			if want := ort.NewShape(int64(c.n), int64(c.cout), int64(c.h), int64(c.w)); shape.String() != want.String() {
				t.Fatalf("%+v fast=%v: output shape %v, want %v", c, fast, shape, want)
			}
			var maxErr float64
			for img := range c.n {
				for o := range c.cout {
					for j := range p {
						want := 0.0
						if bias != nil {
							want = float64(bias[o])
						}
						at := (img*c.cout+o)*p + j
						if res != nil && c.resOne {
							want += float64(res[o*p+j])
						} else if res != nil {
							want += float64(res[at])
						}
						for ci := range c.cin {
							want += float64(w[o*c.cin+ci]) * float64(x[(img*c.cin+ci)*p+j])
						}
						maxErr = max(maxErr, math.Abs(float64(got[at])-want))
					}
				}
			}
			checkKernel(t, results, i, fmt.Sprintf("%+v fast=%v", c, fast), got, maxErr,
				2e-2*math.Sqrt(float64(c.cin)), 1e-4*math.Sqrt(float64(c.cin)))
		}
	}
}

func TestConv1x1Errors(t *testing.T) {
	full, plain := convSessions(t, testDomain(t), 1)
	defer full.Destroy()
	defer plain.Destroy()
	run := func(xs, ws, bs, rs ort.Shape) error {
		var in []ort.Value
		for _, s := range []ort.Shape{xs, ws, bs, rs} {
			v, _ := ort.NewTensor(s, make([]float32, s.FlattenedSize()))
			defer v.Destroy()
			in = append(in, v)
		}
		out := []ort.Value{nil}
		err := full.Run(in, out)
		if err == nil {
			out[0].Destroy()
		}
		return err
	}
	x := ort.NewShape(1, 8, 2, 3)
	for _, c := range []struct {
		x, w, b, r ort.Shape
		want       string
	}{
		{x, ort.NewShape(4, 7, 1, 1), ort.NewShape(4), ort.NewShape(1, 4, 2, 3), "weight must be [out channels, 8, 1, 1]"},
		{x, ort.NewShape(4, 8, 1, 1), ort.NewShape(5), ort.NewShape(1, 4, 2, 3), "bias must be [4]"},
		{x, ort.NewShape(4, 8, 1, 1), ort.NewShape(4), ort.NewShape(1, 4, 1, 3), "residual must have the output's shape"},
		{ort.NewShape(2, 8, 2, 3), ort.NewShape(4, 8, 1, 1), ort.NewShape(4), ort.NewShape(3, 4, 2, 3), "residual must have the output's shape"},
		{x, ort.NewShape(4, 8, 1, 1), ort.NewShape(4), ort.NewShape(1, 4, 2, 3), ""},
	} {
		err := run(c.x, c.w, c.b, c.r)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("matching shapes: %v", err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("x %v, w %v, bias %v, residual %v: got %v, want %q", c.x, c.w, c.b, c.r, err, c.want)
		}
	}
}

// BenchmarkConv1x1 is a third-stage RepViT product at 1024 x 1024 input
// (384 -> 192 channels over 64 x 64 pixels, with bias and residual) through
// ONNX Runtime, inputs and output made once.
func BenchmarkConv1x1(b *testing.B) {
	full, plain := convSessions(b, benchDomain(b), 0)
	defer full.Destroy()
	defer plain.Destroy()
	const cin, cout, h, w = 384, 192, 64, 64
	r := rand.New(rand.NewPCG(1, 2))
	in := tensors(b,
		tensor{ort.NewShape(1, cin, h, w), random(r, cin*h*w, 1)},
		tensor{ort.NewShape(cout, cin, 1, 1), random(r, cout*cin, 1)},
		tensor{ort.NewShape(cout), random(r, cout, 1)},
		tensor{ort.NewShape(1, cout, h, w), make([]float32, cout*h*w)})
	y, err := ort.NewEmptyTensor[float32](ort.NewShape(1, cout, h, w))
	if err != nil {
		b.Fatal(err)
	}
	defer y.Destroy()
	for b.Loop() {
		if err := full.Run(in, []ort.Value{y}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(h*w)*cin*cout*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// testdata/convmlp.onnx is one ai.vidseg.Bf16ConvMLP node with inputs x [n,
// c, h, w], w1 [hidden, c, 1, 1], b1 [hidden], w2 [c, hidden, 1, 1], b2 [c]
// and res [n, c, h, w].

// TestConvMLP compares the fused channel mixer with float64 (exact GELU
// with math.Erf) on shapes that cover its edges: pixel counts ending inside
// a panel and a block, odd channel and hidden counts (a zero-padded pair,
// and a hidden row pair split by the end), hidden counts that end inside a
// register tile, batches (also one residual image for a batch), and
// RepViT's widths. Weights are scaled by
// 1/sqrt(fan-in), so values are of order 1 and bfloat16 rounding of x, the
// weights and the hidden layer gives errors of a few 1e-3; an exchanged
// pair, a lost bias, residual or GELU is of order 1.
func TestConvMLP(t *testing.T) {
	kernels := testKernels(t)
	cases := []struct {
		n, c, hid, h, w int
		resOne          bool // one residual image for the batch
	}{
		{1, 1, 2, 1, 1, false},
		{1, 48, 96, 16, 16, false},
		{2, 7, 13, 5, 9, false},
		{1, 96, 192, 33, 31, false},
		{3, 5, 25, 3, 50, false},
		{1, 384, 768, 8, 8, false},
		{3, 16, 32, 9, 7, true},
	}
	results := map[int][]float32{}
	for _, fast := range kernels {
		d, err := open(libPath, fast)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		s, err := openSession(t, d, "convmlp.onnx", []string{"x", "w1", "b1", "w2", "b2", "res"}, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		for i, c := range cases {
			r := rand.New(rand.NewPCG(uint64(i), 23))
			p := c.h * c.w
			resN := c.n
			if c.resOne {
				resN = 1
			}
			x, res := random(r, c.n*c.c*p, 1), random(r, resN*c.c*p, 1)
			w1, b1 := random(r, c.hid*c.c, 1/math.Sqrt(float64(c.c))), random(r, c.hid, 1)
			w2, b2 := random(r, c.c*c.hid, 1/math.Sqrt(float64(c.hid))), random(r, c.c, 1)
			in := tensors(t,
				tensor{ort.NewShape(int64(c.n), int64(c.c), int64(c.h), int64(c.w)), x},
				tensor{ort.NewShape(int64(c.hid), int64(c.c), 1, 1), w1},
				tensor{ort.NewShape(int64(c.hid)), b1},
				tensor{ort.NewShape(int64(c.c), int64(c.hid), 1, 1), w2},
				tensor{ort.NewShape(int64(c.c)), b2},
				tensor{ort.NewShape(int64(resN), int64(c.c), int64(c.h), int64(c.w)), res})
			out := []ort.Value{nil}
			if err := s.Run(in, out); err != nil {
				t.Fatalf("%+v fast=%v: %v", c, fast, err)
			}
			got := append([]float32(nil), out[0].(*ort.Tensor[float32]).GetData()...)
			out[0].Destroy()
			var maxErr float64
			hidden := make([]float64, c.hid)
			for img := range c.n {
				for j := range p {
					for o := range c.hid {
						v := float64(b1[o])
						for ci := range c.c {
							v += float64(w1[o*c.c+ci]) * float64(x[(img*c.c+ci)*p+j])
						}
						hidden[o] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
					}
					for o := range c.c {
						at := (img*c.c+o)*p + j
						want := float64(b2[o]) + float64(res[at%(resN*c.c*p)])
						for hi := range c.hid {
							want += float64(w2[o*c.hid+hi]) * hidden[hi]
						}
						maxErr = max(maxErr, math.Abs(float64(got[at])-want))
					}
				}
			}
			// The kernels round the hidden layer to bfloat16 too, where
			// erf's last bits can fall either side of a rounding step.
			checkKernel(t, results, i, fmt.Sprintf("%+v fast=%v", c, fast), got, maxErr, 3e-2, 1e-2)
		}
	}
}
