package sam

import (
	"fmt"
	"os"
)

// Packages exported before 2026-12-06 declare the memory attention's
// mem_pos input as [B, M, ...] with the same symbol B as mem_feat, though
// the runtime gives one set of positions for all objects (batch 1). ONNX
// Runtime's memory planner takes equal symbols as equal sizes; with some
// graph forms it then reused a buffer of mem_feat's batch size for a
// tensor of the positions' ("Shape mismatch attempting to re-use buffer",
// two objects of one shape). The exporter now names the axis B_pos; the
// runtime renames it in an older package's graph when it opens it.
const (
	pbTensorShape = 2 // TypeProto.Tensor.shape
	pbShapeDim    = 1 // TensorShapeProto.dim
	pbDimParam    = 2 // TensorShapeProto.Dimension.dim_param
	posBatchOld   = "B"
	posBatch      = "B_pos"
)

// ownPositionBatch returns the memory attention graph at path (data when
// it is already read and rewritten) with mem_pos's batch axis renamed from
// B to B_pos; data as it was when there is nothing to rename.
func ownPositionBatch(path string, data []byte) ([]byte, error) {
	model := data
	if model == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		model = b
	}
	// Read first: rewriting re-encodes the whole graph, weights included.
	param, err := inputDimParam(model, "mem_pos", 0)
	if err != nil {
		return nil, err
	}
	if param != posBatchOld {
		return data, nil
	}
	out, _, err := renameDim(model, "mem_pos", 0, posBatchOld, posBatch)
	return out, err
}

// inputDimParam returns the dim_param of dimension i of graph input name
// ("" when it has none).
func inputDimParam(model []byte, name string, i int) (string, error) {
	var param string
	err := pbFields(model, func(field, wire int, _ uint64, g []byte) error {
		if field != pbModelGraph || wire != 2 {
			return nil
		}
		return pbFields(g, func(field, wire int, _ uint64, vi []byte) error {
			if field != pbGraphInput || wire != 2 {
				return nil
			}
			info, params, err := valueInfo(vi)
			if err == nil && info.Name == name && i < len(params) {
				param = params[i]
			}
			return err
		})
	})
	return param, err
}

// renameDim returns model (an encoded ONNX ModelProto) with the symbolic
// dimension i of graph input name renamed from -> to, and whether it was
// (false: the input or the dimension is not there, or is named otherwise).
func renameDim(model []byte, name string, i int, from, to string) ([]byte, bool, error) {
	changed := false
	out, err := editFields(model, pbModelGraph, func(_ int, g []byte) ([]byte, error) {
		return editFields(g, pbGraphInput, func(_ int, vi []byte) ([]byte, error) {
			if stringField(vi, pbValueInfoName) != name {
				return vi, nil
			}
			return editFields(vi, pbValueInfoType, func(_ int, typ []byte) ([]byte, error) {
				return editFields(typ, pbTypeTensor, func(_ int, tensor []byte) ([]byte, error) {
					return editFields(tensor, pbTensorShape, func(_ int, shape []byte) ([]byte, error) {
						return editFields(shape, pbShapeDim, func(k int, dim []byte) ([]byte, error) {
							if k != i || stringField(dim, pbDimParam) != from {
								return dim, nil
							}
							changed = true
							return pbAppendBytes(nil, pbDimParam, []byte(to)), nil
						})
					})
				})
			})
		})
	})
	if err != nil {
		return nil, false, fmt.Errorf("rename dimension %d of input %s: %w", i, name, err)
	}
	return out, changed, nil
}

// editFields re-encodes message msg with the k-th occurrence of its
// length-delimited field replaced by edit(k, its bytes); other fields are
// copied as they are.
func editFields(msg []byte, field int, edit func(k int, data []byte) ([]byte, error)) ([]byte, error) {
	out := make([]byte, 0, len(msg)+16)
	k := 0
	err := pbRawFields(msg, func(f, wire int, _ uint64, data, raw []byte) error {
		if f != field || wire != 2 {
			out = append(out, raw...)
			return nil
		}
		d, err := edit(k, data)
		k++
		if err != nil {
			return err
		}
		out = pbAppendBytes(out, field, d)
		return nil
	})
	return out, err
}

// stringField returns the last string (length-delimited) field numbered
// field of message msg, "" when it has none.
func stringField(msg []byte, field int) string {
	var v string
	_ = pbFields(msg, func(f, wire int, _ uint64, data []byte) error {
		if f == field && wire == 2 {
			v = string(data)
		}
		return nil
	})
	return v
}
