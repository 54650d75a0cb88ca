package npy

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// testdata/small.npz and v2.npy were written by numpy 1.24:
//
//	np.savez('small.npz', f=np.arange(6,dtype='<f4').reshape(2,3)*0.5,
//	         i=np.array([3,-1,7],dtype='<i8'), u=np.array([[1,0],[255,2]],dtype='u1'),
//	         s=np.float32(2.5))
//	np.lib.format.write_array(f, np.arange(4,dtype='<f4'), version=(2,0))
func TestReadNPZ(t *testing.T) {
	m, err := ReadNPZ("testdata/small.npz")
	if err != nil {
		t.Fatal(err)
	}
	f := m["f"]
	if f == nil || f.DType != "<f4" || !slices.Equal(f.Shape, []int{2, 3}) || !slices.Equal(f.F32, []float32{0, 0.5, 1, 1.5, 2, 2.5}) {
		t.Errorf("f = %+v", f)
	}
	i := m["i"]
	if i == nil || !slices.Equal(i.Shape, []int{3}) || !slices.Equal(i.I64, []int64{3, -1, 7}) {
		t.Errorf("i = %+v", i)
	}
	u := m["u"]
	if u == nil || u.DType != "|u1" || !slices.Equal(u.Shape, []int{2, 2}) || !slices.Equal(u.U8, []uint8{1, 0, 255, 2}) {
		t.Errorf("u = %+v", u)
	}
	s := m["s"]
	if s == nil || len(s.Shape) != 0 || s.Len() != 1 || s.F32[0] != 2.5 {
		t.Errorf("s = %+v", s)
	}
	if got := i.Float32(); !slices.Equal(got, []float32{3, -1, 7}) {
		t.Errorf("i.Float32() = %v", got)
	}
}

func TestReadVersion2(t *testing.T) {
	f, err := os.Open("testdata/v2.npy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.F32, []float32{0, 1, 2, 3}) {
		t.Errorf("got %+v", a)
	}
}

func TestReadErrors(t *testing.T) {
	for name, in := range map[string]string{
		"magic":     "NUMPY\x01\x00",
		"version":   "\x93NUMPY\x09\x00\x00\x00",
		"dtype":     "\x93NUMPY\x01\x00\x36\x00{'descr': '>c16', 'fortran_order': False, 'shape': (1,), }",
		"short":     "\x93NUMPY\x01\x00\x35\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
		"fortran":   "\x93NUMPY\x01\x00\x37\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2,2), }",
		"dimension": "\x93NUMPY\x01\x00\x35\x00{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }",
	} {
		if _, err := Read(bytes.NewReader([]byte(in))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, p := range []string{"testdata/v2.npy"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x93NUMPY\x01\x00\x35\x00{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }AAAAAAAA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(bytes.NewReader(b))
		if err == nil && a.Len() != len(a.Float32()) {
			t.Fatalf("Len %d but %d values", a.Len(), len(a.Float32()))
		}
	})
}
