// Package npy reads NumPy .npy arrays and .npz archives of them (format
// versions 1-3, C order, little-endian '<f4', '<f8', '<i8', '<i4', '|u1'
// and '|b1' dtypes): enough for the exporter's reference tensors.
package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Array is one decoded array. Exactly one of the data slices is set,
// according to DType.
type Array struct {
	DType string // numpy descr, e.g. "<f4"
	Shape []int
	F32   []float32
	F64   []float64
	I64   []int64
	I32   []int32
	U8    []uint8
}

// Len is the number of elements.
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Float32 returns the data converted to float32 (a copy unless the array
// is already '<f4').
func (a *Array) Float32() []float32 {
	switch {
	case a.F32 != nil:
		return a.F32
	case a.F64 != nil:
		return convert(a.F64)
	case a.I64 != nil:
		return convert(a.I64)
	case a.I32 != nil:
		return convert(a.I32)
	case a.U8 != nil:
		return convert(a.U8)
	}
	return []float32{}
}

func convert[T float64 | int64 | int32 | uint8](s []T) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

var magic = []byte("\x93NUMPY")

// Read decodes one .npy stream.
func Read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: read magic: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, errors.New("npy: not a .npy stream (bad magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: read header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: read header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("npy: header length %d is implausible", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: read header: %w", err)
	}
	a, fortran, err := parseHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	if fortran {
		return nil, errors.New("npy: Fortran-order arrays are not supported")
	}
	n := 1
	for _, d := range a.Shape {
		if d > 0 && n > (1<<31)/d {
			return nil, fmt.Errorf("npy: shape %v is implausible", a.Shape)
		}
		n *= d
	}
	var size int
	switch a.DType {
	case "<f4", "<i4":
		size = 4
	case "<f8", "<i8":
		size = 8
	case "|u1", "|b1", "<u1", "<b1":
		size = 1
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.DType)
	}
	// ReadAll grows with the data actually present, so a lying header
	// cannot make us allocate its claimed size up front.
	raw, err := io.ReadAll(io.LimitReader(r, int64(n*size)))
	if err != nil {
		return nil, fmt.Errorf("npy: read %d values of %s: %w", n, a.DType, err)
	}
	if len(raw) != n*size {
		return nil, fmt.Errorf("npy: %d bytes of data, want %d values of %s", len(raw), n, a.DType)
	}
	switch a.DType {
	case "<f4":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "<f8":
		a.F64 = make([]float64, n)
		for i := range a.F64 {
			a.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case "<i8":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case "<i4":
		a.I32 = make([]int32, n)
		for i := range a.I32 {
			a.I32[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	default:
		a.U8 = raw
	}
	return a, nil
}

// parseHeader reads the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4), }
func parseHeader(h string) (*Array, bool, error) {
	h = strings.TrimSpace(h)
	field := func(key string) (string, error) {
		k := "'" + key + "':"
		i := strings.Index(h, k)
		if i < 0 {
			return "", fmt.Errorf("npy: header %q has no %s", h, key)
		}
		return strings.TrimSpace(h[i+len(k):]), nil
	}
	a := &Array{}
	rest, err := field("descr")
	if err != nil {
		return nil, false, err
	}
	if len(rest) < 2 || rest[0] != '\'' {
		return nil, false, fmt.Errorf("npy: bad descr in header %q", h)
	}
	end := strings.IndexByte(rest[1:], '\'')
	if end < 0 {
		return nil, false, fmt.Errorf("npy: bad descr in header %q", h)
	}
	a.DType = rest[1 : 1+end]
	rest, err = field("fortran_order")
	if err != nil {
		return nil, false, err
	}
	fortran := strings.HasPrefix(rest, "True")
	rest, err = field("shape")
	if err != nil {
		return nil, false, err
	}
	if !strings.HasPrefix(rest, "(") {
		return nil, false, fmt.Errorf("npy: bad shape in header %q", h)
	}
	end = strings.IndexByte(rest, ')')
	if end < 0 {
		return nil, false, fmt.Errorf("npy: bad shape in header %q", h)
	}
	a.Shape = []int{}
	for _, p := range strings.Split(rest[1:end], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSuffix(p, "L"))
		if err != nil || d < 0 {
			return nil, false, fmt.Errorf("npy: bad dimension %q in header %q", p, h)
		}
		a.Shape = append(a.Shape, d)
	}
	return a, fortran, nil
}

// ReadNPZ decodes every array of an .npz archive, keyed by name without
// the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("npz %s: %w", path, err)
	}
	defer z.Close()
	out := make(map[string]*Array, len(z.File))
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("npz %s: %s: %w", path, f.Name, err)
		}
		a, err := Read(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("npz %s: %s: %w", path, f.Name, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}
