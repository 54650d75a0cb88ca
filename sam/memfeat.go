package sam

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The memory attention's bfloat16 input. The tracker keeps memory frames in
// bfloat16 (memory.ToBF16); widening each new frame to float32 in Go made
// it the largest copy of a tracked frame (1 MiB per object at 1024 px). The
// runtime instead gives the graph a bfloat16 mem_feat input and widens it
// with a Cast inside the graph: exactly the values the Go widening gave,
// half the bytes copied.

// ONNX protobuf field numbers and values of the input rewrite (onnx.proto).
const (
	pbGraphInput     = 11
	pbValueInfoType  = 2
	pbTypeTensor     = 1
	pbTensorElemType = 1
	pbAttrType       = 20
	pbAttrTypeInt    = 2
	onnxBFloat16     = 16
)

// memFeatBF16 is the name of the rewritten graph's bfloat16 input.
const memFeatBF16 = "mem_feat_bf16"

// bf16Input returns model (an encoded ONNX ModelProto) with its float32
// graph input name taken as bfloat16 under the name as: the input's
// declaration becomes as with element type bfloat16, and a Cast node, the
// graph's first, widens it to name for the nodes that read it.
func bf16Input(model []byte, name, as string) ([]byte, error) {
	out := make([]byte, 0, len(model)+128)
	found := false
	err := pbRawFields(model, func(field, wire int, _ uint64, data, raw []byte) error {
		if field != pbModelGraph || wire != 2 {
			out = append(out, raw...)
			return nil
		}
		graph := pbAppendBytes(nil, pbGraphNode, castNode(as, name, onnxFloat))
		err := pbRawFields(data, func(field, wire int, _ uint64, data, raw []byte) error {
			if field == pbGraphInput && wire == 2 {
				vi, ok, err := retypeInput(data, name, as)
				if err != nil {
					return err
				}
				if ok {
					found = true
					graph = pbAppendBytes(graph, pbGraphInput, vi)
					return nil
				}
			}
			graph = append(graph, raw...)
			return nil
		})
		if err != nil {
			return err
		}
		out = pbAppendBytes(out, pbModelGraph, graph)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no float32 input %s to take as bfloat16", name)
	}
	return out, nil
}

// castNode encodes a NodeProto Cast(in) -> out with attribute to.
func castNode(in, out string, to uint64) []byte {
	attr := pbAppendBytes(nil, pbAttrName, []byte("to"))
	attr = binary.AppendUvarint(attr, pbAttrInt<<3)
	attr = binary.AppendUvarint(attr, to)
	attr = binary.AppendUvarint(attr, pbAttrType<<3)
	attr = binary.AppendUvarint(attr, pbAttrTypeInt)
	n := pbAppendBytes(nil, pbNodeInput, []byte(in))
	n = pbAppendBytes(n, pbNodeOutput, []byte(out))
	n = pbAppendBytes(n, pbNodeName, []byte("vidseg_"+in+"_cast"))
	n = pbAppendBytes(n, pbNodeOpType, []byte("Cast"))
	return pbAppendBytes(n, pbNodeAttribute, attr)
}

// retypeInput returns the ValueInfoProto vi renamed as and typed bfloat16
// when it declares the float32 tensor name; ok is false for other inputs.
func retypeInput(vi []byte, name, as string) (_ []byte, ok bool, err error) {
	var typ []byte
	isName := false
	if err := pbFields(vi, func(field, wire int, _ uint64, data []byte) error {
		switch {
		case field == pbValueInfoName && wire == 2:
			isName = string(data) == name
		case field == pbValueInfoType && wire == 2:
			typ = data
		}
		return nil
	}); err != nil || !isName {
		return nil, false, err
	}
	var out []byte
	err = pbRawFields(vi, func(field, wire int, _ uint64, data, raw []byte) error {
		switch {
		case field == pbValueInfoName && wire == 2:
			out = pbAppendBytes(out, pbValueInfoName, []byte(as))
		case field == pbValueInfoType && wire == 2:
			t, err := retypeTensor(typ)
			if err != nil {
				return fmt.Errorf("input %s: %w", name, err)
			}
			out = pbAppendBytes(out, pbValueInfoType, t)
		default:
			out = append(out, raw...)
		}
		return nil
	})
	return out, true, err
}

// retypeTensor returns TypeProto typ, a float32 tensor, as bfloat16.
func retypeTensor(typ []byte) ([]byte, error) {
	var out []byte
	float := false
	err := pbRawFields(typ, func(field, wire int, _ uint64, data, raw []byte) error {
		if field != pbTypeTensor || wire != 2 {
			out = append(out, raw...)
			return nil
		}
		var t []byte
		err := pbRawFields(data, func(field, wire int, v uint64, _, raw []byte) error {
			if field == pbTensorElemType && wire == 0 {
				if v != onnxFloat {
					return fmt.Errorf("element type %d, not float32", v)
				}
				float = true
				t = binary.AppendUvarint(t, pbTensorElemType<<3)
				t = binary.AppendUvarint(t, onnxBFloat16)
				return nil
			}
			t = append(t, raw...)
			return nil
		})
		out = pbAppendBytes(out, pbTypeTensor, t)
		return err
	})
	if err == nil && !float {
		err = errors.New("not a float32 tensor")
	}
	return out, err
}
