package sam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// The rewrite that puts a graph's attentions (attention.go) and weight
// products (matmul.go) into vidseg's bf16 operators (sam/internal/bf16op)
// when its session is created: on the encoded ONNX bytes, reading them
// with onnxio.go's protobuf helpers.

// ONNX protobuf field numbers used by the rewrite (onnx.proto).
const (
	pbModelGraph       = 7
	pbModelOpset       = 8
	pbGraphNode        = 1
	pbNodeInput        = 1
	pbNodeOpType       = 4
	pbNodeAttribute    = 5
	pbNodeDomain       = 7
	pbAttrName         = 1
	pbAttrFloat        = 2
	pbAttrInt          = 3
	pbAttrString       = 4
	pbAttrInts         = 8
	pbAttrTensor       = 5
	pbTensorDataType   = 2
	pbTensorFloatData  = 4
	pbTensorRawData    = 9
	pbOpsetDomain      = 1
	pbOpsetVersion     = 2
	pbGraphInitializer = 5
	pbGraphOutput      = 12
	pbNodeOutput       = 2
	pbNodeName         = 3
	pbAttrGraph        = 6
	pbAttrGraphs       = 11
	pbTensorDims       = 1
	pbTensorName       = 8
	pbValueInfoName    = 1
)

// bf16Ops says which nodes a rewrite puts into vidseg's bf16 operators;
// with optionalMatMul a graph without weight products is left as it is
// (the other graphs than the image encoder).
type bf16Ops struct{ attention, matmul, optionalMatMul bool }

// bf16Count is what a rewrite replaced: attentions, MatMuls (with biases
// taken in) and pointwise convolutions (with residuals taken in).
type bf16Count struct{ attentions, matmuls, biases, convs, residuals, mlps int }

func (c bf16Count) nodes() int { return c.attentions + c.matmuls + c.convs + c.mlps }

func (o bf16Ops) any() bool { return o.attention || o.matmul }

func (o bf16Ops) String() string {
	switch {
	case o.attention && o.matmul:
		return "bf16 attention and matmul"
	case o.matmul:
		return "bf16 matmul"
	}
	return "bf16 attention"
}

// rewriteBF16 appends to dst model (an encoded ONNX ModelProto) with its
// nodes replaced by vidseg's bf16 operators as ops asks, and returns it
// with what it replaced:
//   - attention: every com.microsoft.MultiHeadAttention node that has
//     exactly query, key and value inputs and no attributes but num_heads
//     and scale becomes ai.vidseg.Bf16Attention with the same inputs,
//     output, name and attributes;
//   - matmul: MatMul nodes with a constant 2-D weight become
//     ai.vidseg.Bf16MatMul, taking in their bias Add (graphScan.matMuls),
//     RepViT's channel mixers (1x1 convolution, GELU, 1x1 convolution,
//     residual) ai.vidseg.Bf16ConvMLP (graphScan.mlps), and the other 1x1
//     convolutions ai.vidseg.Bf16Conv1x1, taking in their residual Add
//     (graphScan.convs).
//
// Everything else is copied byte for byte, in one pass, so that dst can be
// a buffer outside Go's heap (the image encoder is 110 MB).
func rewriteBF16(dst, model []byte, ops bf16Ops) ([]byte, bf16Count, error) {
	var count bf16Count
	hasDomain := false
	err := pbRawFields(model, func(field, wire int, _ uint64, data, raw []byte) error {
		switch {
		case field == pbModelGraph && wire == 2:
			nodes, size, c, err := bf16Nodes(data, ops)
			if err != nil {
				return err
			}
			count = c
			dst = binary.AppendUvarint(dst, pbModelGraph<<3|2)
			dst = binary.AppendUvarint(dst, uint64(size))
			i := 0
			return pbRawFields(data, func(field, wire int, _ uint64, _, raw []byte) error {
				if field == pbGraphNode && wire == 2 {
					if n, ok := nodes[i]; ok {
						raw = n // nil: a bias Add taken into its product
					}
					i++
				}
				dst = append(dst, raw...)
				return nil
			})
		case field == pbModelOpset && wire == 2:
			_ = pbFields(data, func(field, wire int, _ uint64, d []byte) error {
				if field == pbOpsetDomain && wire == 2 && string(d) == bf16op.DomainName {
					hasDomain = true
				}
				return nil
			})
		}
		dst = append(dst, raw...)
		return nil
	})
	if err != nil {
		return nil, bf16Count{}, err
	}
	if count.nodes() > 0 && !hasDomain {
		op := pbAppendBytes(nil, pbOpsetDomain, []byte(bf16op.DomainName))
		op = binary.AppendUvarint(op, pbOpsetVersion<<3)
		op = binary.AppendUvarint(op, 1)
		dst = pbAppendBytes(dst, pbModelOpset, op)
	}
	return dst, count, nil
}

// bf16Nodes returns the encoded replacement node fields of a GraphProto,
// by the nodes' order (nil: dropped), the graph's size after replacing
// them, and what it replaced.
func bf16Nodes(graph []byte, ops bf16Ops) (map[int][]byte, int, bf16Count, error) {
	var c bf16Count
	nodes := map[int][]byte{}
	if ops.matmul {
		g, err := scanGraph(graph)
		if err != nil {
			return nil, 0, c, err
		}
		c.matmuls, c.biases = g.matMuls(nodes)
		c.mlps = g.mlps(nodes)
		c.convs, c.residuals = g.convs(nodes)
	}
	size, i := len(graph), 0
	err := pbRawFields(graph, func(field, wire int, _ uint64, data, raw []byte) error {
		if field != pbGraphNode || wire != 2 {
			return nil
		}
		defer func() { i++ }()
		if n, ok := nodes[i]; ok {
			size += len(n) - len(raw)
			return nil
		}
		if !ops.attention {
			return nil
		}
		n, ok, err := attentionNode(data)
		if err != nil || !ok {
			return err
		}
		nodes[i] = pbAppendBytes(nil, pbGraphNode, n)
		size += len(nodes[i]) - len(raw)
		c.attentions++
		return nil
	})
	return nodes, size, c, err
}

// parsePrecision validates the value v of setting what: fp32 ("" too) or
// bf16, the values of Options.Attention and Options.MatMul.
func parsePrecision(what, v string) (string, error) {
	switch v {
	case "", "fp32":
		return "fp32", nil
	case "bf16":
		return v, nil
	}
	return "", fmt.Errorf("%s %q: want fp32 or bf16", what, v)
}

// bf16GraphData reads the ONNX file at path and rewrites it with
// rewriteBF16 into memory mapped outside Go's heap (a graph with nothing of
// a kind ops asks for is an error); release unmaps it once ONNX Runtime has
// made its session (it keeps no reference to the bytes). Copies in Go's
// heap raised the process's peak RSS by twice the graph's size (the image
// encoder: 771 -> 998 MB) and stayed resident.
func bf16GraphData(path string, ops bf16Ops) (data []byte, count bf16Count, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, count, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, count, nil, err
	}
	size := int(fi.Size())
	if size == 0 {
		return nil, count, nil, errCorrupt
	}
	in, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, count, nil, fmt.Errorf("map %s: %w", path, err)
	}
	defer syscall.Munmap(in)
	// Attention nodes and products with their bias shrink; a product
	// without a bias Add grows by its operator's name (~16 bytes), the
	// opset entry and length prefixes by a few bytes.
	out, err := syscall.Mmap(-1, 0, size+64<<10, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, count, nil, fmt.Errorf("map a buffer for %s: %w", path, err)
	}
	release = func() { syscall.Munmap(out) }
	data, count, err = rewriteBF16(out[:0], in, ops)
	switch {
	case err != nil:
	case ops.attention && count.attentions == 0:
		err = errors.New("the graph has no fused attention nodes (export the package with --attention fused, the default)")
	case ops.matmul && !ops.optionalMatMul && count.matmuls+count.mlps == 0:
		// A few 1x1 convolutions (SAM 2's neck) do not make the option
		// worth it: an int8 encoder's products stay quantized.
		err = errors.New("the graph has no float32 MatMul with a constant weight nor channel mixer (an int8 package's are quantized already: use --matmul fp32)")
	case &data[0] != &out[0]:
		err = errors.New("rewritten graph outgrew its buffer") // append moved it to Go's heap
	}
	if err != nil {
		release()
		return nil, count, nil, err
	}
	return data, count, release, nil
}
