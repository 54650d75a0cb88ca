package sam

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	ort "github.com/yalue/onnxruntime_go"
)

// graphIO reads the declared inputs and outputs of an ONNX file straight
// from its protobuf encoding, skipping the weights. Asking ONNX Runtime
// instead means building a throwaway session, which costs seconds for the
// large graphs.
func graphIO(path string) (in, out []ort.InputOutputInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	r := &pbReader{f: f, br: bufio.NewReaderSize(f, 64<<10)}
	// ModelProto: field 7 is the GraphProto.
	end := fi.Size()
	found := false
	for r.pos < end {
		field, wire, err := r.tag()
		if err != nil {
			return nil, nil, err
		}
		if field == 7 && wire == 2 {
			n, err := r.varint()
			if err != nil {
				return nil, nil, err
			}
			if in, out, err = r.graph(r.pos + int64(n)); err != nil {
				return nil, nil, err
			}
			found = true
			continue
		}
		if err := r.skip(wire); err != nil {
			return nil, nil, err
		}
	}
	if !found {
		return nil, nil, errors.New("not an ONNX model (no graph)")
	}
	return in, out, nil
}

// pbReader is a minimal protobuf wire-format reader that seeks over
// length-delimited fields it does not need.
type pbReader struct {
	f   *os.File
	br  *bufio.Reader
	pos int64
}

var errCorrupt = errors.New("corrupt ONNX protobuf")

func (r *pbReader) byte() (byte, error) {
	b, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, errCorrupt
		}
		return 0, err
	}
	r.pos++
	return b, nil
}

func (r *pbReader) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errCorrupt
}

func (r *pbReader) tag() (field int, wire int, err error) {
	v, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	return int(v >> 3), int(v & 7), nil
}

func (r *pbReader) discard(n int64) error {
	if n < 0 {
		return errCorrupt
	}
	if n <= int64(r.br.Buffered()) {
		r.br.Discard(int(n))
		r.pos += n
		return nil
	}
	if _, err := r.f.Seek(r.pos+n, io.SeekStart); err != nil {
		return err
	}
	r.pos += n
	r.br.Reset(r.f)
	return nil
}

func (r *pbReader) skip(wire int) error {
	switch wire {
	case 0:
		_, err := r.varint()
		return err
	case 1:
		return r.discard(8)
	case 2:
		n, err := r.varint()
		if err != nil {
			return err
		}
		return r.discard(int64(n))
	case 5:
		return r.discard(4)
	}
	return errCorrupt
}

func (r *pbReader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, errCorrupt
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, errCorrupt
	}
	r.pos += int64(n)
	return b, nil
}

// graph reads GraphProto fields 11 (input) and 12 (output) up to end.
func (r *pbReader) graph(end int64) (in, out []ort.InputOutputInfo, err error) {
	for r.pos < end {
		field, wire, err := r.tag()
		if err != nil {
			return nil, nil, err
		}
		if (field == 11 || field == 12) && wire == 2 {
			b, err := r.bytes()
			if err != nil {
				return nil, nil, err
			}
			info, _, err := valueInfo(b)
			if err != nil {
				return nil, nil, err
			}
			if field == 11 {
				in = append(in, info)
			} else {
				out = append(out, info)
			}
			continue
		}
		if err := r.skip(wire); err != nil {
			return nil, nil, err
		}
	}
	if r.pos != end {
		return nil, nil, errCorrupt
	}
	return in, out, nil
}

// pbFields calls fn for each field of an in-memory message; fn gets the
// varint value or the length-delimited bytes.
func pbFields(b []byte, fn func(field, wire int, v uint64, data []byte) error) error {
	return pbRawFields(b, func(field, wire int, v uint64, data, _ []byte) error { return fn(field, wire, v, data) })
}

// pbRawFields is pbFields that also passes each field's whole encoding
// (tag included), for copying fields unchanged.
func pbRawFields(b []byte, fn func(field, wire int, v uint64, data, raw []byte) error) error {
	for len(b) > 0 {
		start := b
		t, n := uvarint(b)
		if n <= 0 {
			return errCorrupt
		}
		b = b[n:]
		field, wire := int(t>>3), int(t&7)
		var v uint64
		var data []byte
		switch wire {
		case 0:
			v, n = uvarint(b)
			if n <= 0 {
				return errCorrupt
			}
			b = b[n:]
		case 1, 5:
			size := 8
			if wire == 5 {
				size = 4
			}
			if len(b) < size {
				return errCorrupt
			}
			b = b[size:]
		case 2:
			l, n := uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errCorrupt
			}
			data, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return errCorrupt
		}
		if err := fn(field, wire, v, data, start[:len(start)-len(b)]); err != nil {
			return err
		}
	}
	return nil
}

// pbAppendBytes appends a length-delimited field.
func pbAppendBytes(buf []byte, field int, data []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(field)<<3|2)
	buf = binary.AppendUvarint(buf, uint64(len(data)))
	return append(buf, data...)
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// valueInfo decodes a ValueInfoProto: name (1) and type (2) ->
// TypeProto.tensor_type (1) -> elem_type (1), shape (2) -> dim (1) ->
// dim_value (1) or dim_param (2, reported as -1 and named in params; ""
// for a fixed dimension).
func valueInfo(b []byte) (info ort.InputOutputInfo, params []string, err error) {
	err = pbFields(b, func(field, wire int, _ uint64, data []byte) error {
		switch {
		case field == 1 && wire == 2:
			info.Name = string(data)
		case field == 2 && wire == 2:
			return pbFields(data, func(field, wire int, _ uint64, data []byte) error {
				if field != 1 || wire != 2 {
					return nil // not a tensor: left as unknown
				}
				info.OrtValueType = ort.ONNXTypeTensor
				info.Dimensions = ort.Shape{}
				return pbFields(data, func(field, wire int, v uint64, data []byte) error {
					switch {
					case field == 1 && wire == 0:
						info.DataType = ort.TensorElementDataType(v)
					case field == 2 && wire == 2:
						return pbFields(data, func(field, wire int, _ uint64, data []byte) error {
							if field != 1 || wire != 2 {
								return nil
							}
							d, param := int64(-1), ""
							err := pbFields(data, func(field, wire int, v uint64, data []byte) error {
								switch {
								case field == 1 && wire == 0:
									d = int64(v)
								case field == 2 && wire == 2:
									param = string(data)
								}
								return nil
							})
							info.Dimensions = append(info.Dimensions, d)
							params = append(params, param)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		return info, nil, fmt.Errorf("value info: %w", err)
	}
	return info, params, nil
}
