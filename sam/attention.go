package sam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vidseg/vidseg/sam/internal/attnop"
)

// Values of Options.Attention.
const (
	// AttentionFP32 runs every attention in float32 (the default).
	AttentionFP32 = "fp32"
	// AttentionBF16 runs the image encoder's and the memory attention's
	// attentions in vidseg's own operator (sam/internal/attnop): products in
	// bfloat16, accumulation and softmax in float32. On CPUs with AVX-512
	// BF16 they take about half the time (most of the memory attention's);
	// masks differ slightly from float32 (docs/benchmarks.md). CPU only.
	AttentionBF16 = "bf16"
)

// ONNX protobuf field numbers used by the rewrite (onnx.proto).
const (
	pbModelGraph     = 7
	pbModelOpset     = 8
	pbGraphNode      = 1
	pbNodeInput      = 1
	pbNodeOpType     = 4
	pbNodeAttribute  = 5
	pbNodeDomain     = 7
	pbAttrName       = 1
	pbAttrInt        = 3
	pbOpsetDomain    = 1
	pbOpsetVersion   = 2
	msDomain         = "com.microsoft"
	fusedAttentionOp = "MultiHeadAttention"
)

// rewriteBF16Attention appends to dst model (an encoded ONNX ModelProto)
// with every com.microsoft.MultiHeadAttention node that has exactly query,
// key and value inputs and no attributes but num_heads and scale replaced by
// ai.vidseg.Bf16Attention with the same inputs, output, name and
// attributes, and returns it with how many nodes it replaced. Everything
// else is copied byte for byte, in one pass, so that dst can be a buffer
// outside Go's heap (the image encoder is 110 MB).
func rewriteBF16Attention(dst, model []byte) ([]byte, int, error) {
	replaced, hasDomain := 0, false
	err := pbRawFields(model, func(field, wire int, _ uint64, data, raw []byte) error {
		switch {
		case field == pbModelGraph && wire == 2:
			nodes, size, err := bf16Nodes(data)
			if err != nil {
				return err
			}
			replaced += len(nodes)
			dst = binary.AppendUvarint(dst, pbModelGraph<<3|2)
			dst = binary.AppendUvarint(dst, uint64(size))
			i := 0
			return pbRawFields(data, func(field, wire int, _ uint64, _, raw []byte) error {
				if field == pbGraphNode && wire == 2 {
					if n, ok := nodes[i]; ok {
						raw = n
					}
					i++
				}
				dst = append(dst, raw...)
				return nil
			})
		case field == pbModelOpset && wire == 2:
			_ = pbFields(data, func(field, wire int, _ uint64, d []byte) error {
				if field == pbOpsetDomain && wire == 2 && string(d) == attnop.DomainName {
					hasDomain = true
				}
				return nil
			})
		}
		dst = append(dst, raw...)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if replaced > 0 && !hasDomain {
		op := pbAppendBytes(nil, pbOpsetDomain, []byte(attnop.DomainName))
		op = binary.AppendUvarint(op, pbOpsetVersion<<3)
		op = binary.AppendUvarint(op, 1)
		dst = pbAppendBytes(dst, pbModelOpset, op)
	}
	return dst, replaced, nil
}

// bf16Nodes returns the encoded replacement node fields of a GraphProto,
// by the nodes' order, and the graph's size after replacing them.
func bf16Nodes(graph []byte) (map[int][]byte, int, error) {
	nodes := map[int][]byte{}
	size, i := len(graph), 0
	err := pbRawFields(graph, func(field, wire int, _ uint64, data, raw []byte) error {
		if field != pbGraphNode || wire != 2 {
			return nil
		}
		defer func() { i++ }()
		n, ok, err := bf16Node(data)
		if err != nil || !ok {
			return err
		}
		nodes[i] = pbAppendBytes(nil, pbGraphNode, n)
		size += len(nodes[i]) - len(raw)
		return nil
	})
	return nodes, size, err
}

// bf16Node returns the replacement of node, or false when it is not a
// fused attention the operator computes.
func bf16Node(node []byte) ([]byte, bool, error) {
	var opType, domain string
	var inputs int
	var attrs [][]byte // num_heads and scale, copied as they are
	heads := uint64(0)
	emptyInput, otherAttr := false, false
	err := pbRawFields(node, func(field, wire int, _ uint64, data, raw []byte) error {
		switch {
		case field == pbNodeOpType && wire == 2:
			opType = string(data)
		case field == pbNodeDomain && wire == 2:
			domain = string(data)
		case field == pbNodeInput && wire == 2:
			inputs++
			emptyInput = emptyInput || len(data) == 0
		case field == pbNodeAttribute && wire == 2:
			var name string
			var i uint64
			if err := pbFields(data, func(field, wire int, v uint64, d []byte) error {
				switch {
				case field == pbAttrName && wire == 2:
					name = string(d)
				case field == pbAttrInt && wire == 0:
					i = v
				}
				return nil
			}); err != nil {
				return err
			}
			switch name {
			case "num_heads":
				heads = i
				attrs = append(attrs, raw)
			case "scale":
				attrs = append(attrs, raw)
			default:
				otherAttr = true // a mask value, unidirectional, ...: not ours
			}
		}
		return nil
	})
	if err != nil || opType != fusedAttentionOp || domain != msDomain || heads < 1 || inputs != 3 || emptyInput || otherAttr {
		return nil, false, err
	}
	out := make([]byte, 0, len(node))
	if err := pbRawFields(node, func(field, _ int, _ uint64, _, raw []byte) error {
		switch field {
		case pbNodeOpType, pbNodeDomain, pbNodeAttribute:
			return nil
		}
		out = append(out, raw...)
		return nil
	}); err != nil {
		return nil, false, err
	}
	out = pbAppendBytes(out, pbNodeOpType, []byte(attnop.OpName))
	out = pbAppendBytes(out, pbNodeDomain, []byte(attnop.DomainName))
	for _, a := range attrs {
		out = append(out, a...)
	}
	return out, true, nil
}

// ParseAttention validates a value of Options.Attention and returns it
// ("" means fp32).
func ParseAttention(a string) (string, error) {
	switch a {
	case "", AttentionFP32:
		return AttentionFP32, nil
	case AttentionBF16:
		return a, nil
	}
	return "", fmt.Errorf("attention %q: want %s or %s", a, AttentionFP32, AttentionBF16)
}

// bf16GraphData reads the ONNX file at path and rewrites it with
// rewriteBF16Attention into memory mapped outside Go's heap (a graph with
// nothing to rewrite is an error); release unmaps
// it once ONNX Runtime has made its session (it keeps no reference to the
// bytes). Copies in Go's heap raised the process's peak RSS by twice the
// graph's size (the image encoder: 771 -> 998 MB) and stayed resident.
func bf16GraphData(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := int(fi.Size())
	if size == 0 {
		return nil, nil, errCorrupt
	}
	in, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	defer syscall.Munmap(in)
	// Replacement nodes are shorter than the originals; the new opset entry
	// and length prefixes need a few bytes more at most.
	out, err := syscall.Mmap(-1, 0, size+4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("map a buffer for %s: %w", path, err)
	}
	release = func() { syscall.Munmap(out) }
	data, replaced, err := rewriteBF16Attention(out[:0], in)
	switch {
	case err != nil:
	case replaced == 0:
		err = errors.New("the graph has no fused attention nodes (export the package with --attention fused, the default)")
	case &data[0] != &out[0]:
		err = errors.New("rewritten graph outgrew its buffer") // append moved it to Go's heap
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return data, release, nil
}
