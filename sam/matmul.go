package sam

import (
	"errors"
	"slices"

	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// Values of Options.MatMul.
const (
	// MatMulFP32 runs every matrix product in float32 (the default).
	MatMulFP32 = "fp32"
	// MatMulBF16 runs the image encoder's weight products (its linear
	// layers, with their bias) in vidseg's own operator
	// (sam/internal/bf16op): products in bfloat16, accumulation in float32.
	// On CPUs with AVX-512 BF16 about 1.6x as fast; masks differ slightly
	// from float32 (docs/benchmarks.md). CPU only.
	MatMulBF16 = "bf16"
)

// ErrMatMulBF16EdgeTAM refuses MatMulBF16 on an EdgeTAM package: its
// image encoder (RepViT) is convolutional and has none of the weight
// products the option rewrites.
var ErrMatMulBF16EdgeTAM = errors.New("matmul bf16 is not supported for EdgeTAM packages: their RepViT image encoder is convolutional (no weight products to run in bf16); use matmul fp32")

// ParseMatMul validates a value of Options.MatMul and returns it ("" means
// fp32).
func ParseMatMul(v string) (string, error) { return parsePrecision("matmul", v) }

// pbNode is what the MatMul rewrite reads of a NodeProto.
type pbNode struct {
	opType, domain  string
	inputs, outputs []string
	name            []byte // the raw name field, if any
	subgraph        bool   // has a graph attribute (If, Loop, Scan)
	to              uint64 // a Cast's target type
}

// onnxFloat is TensorProto.FLOAT.
const onnxFloat = 1

func parseNode(b []byte) (pbNode, error) {
	var n pbNode
	err := pbRawFields(b, func(field, wire int, _ uint64, data, raw []byte) error {
		if wire != 2 {
			return nil
		}
		switch field {
		case pbNodeInput:
			n.inputs = append(n.inputs, string(data))
		case pbNodeOutput:
			n.outputs = append(n.outputs, string(data))
		case pbNodeName:
			n.name = raw
		case pbNodeOpType:
			n.opType = string(data)
		case pbNodeDomain:
			n.domain = string(data)
		case pbNodeAttribute:
			a, err := parseAttr(data)
			if a.name == "to" {
				n.to = a.i
			}
			n.subgraph = n.subgraph || a.graph
			return err
		}
		return nil
	})
	return n, err
}

// pbAttr is what the rewrites read of an AttributeProto.
type pbAttr struct {
	name  string
	i     uint64 // an int attribute's value
	graph bool   // holds a graph (If, Loop, Scan bodies)
}

func parseAttr(b []byte) (pbAttr, error) {
	var a pbAttr
	err := pbFields(b, func(field, wire int, v uint64, d []byte) error {
		switch {
		case field == pbAttrName && wire == 2:
			a.name = string(d)
		case field == pbAttrInt && wire == 0:
			a.i = v
		case field == pbAttrGraph || field == pbAttrGraphs:
			a.graph = true
		}
		return nil
	})
	return a, err
}

// tensorDims reads a TensorProto's name and dimensions (packed or not).
func tensorDims(b []byte) (string, []int64, error) {
	var name string
	var dims []int64
	err := pbFields(b, func(field, wire int, v uint64, data []byte) error {
		switch {
		case field == pbTensorName && wire == 2:
			name = string(data)
		case field == pbTensorDims && wire == 0:
			dims = append(dims, int64(v))
		case field == pbTensorDims && wire == 2:
			for len(data) > 0 {
				d, n := uvarint(data)
				if n <= 0 {
					return errCorrupt
				}
				dims, data = append(dims, int64(d)), data[n:]
			}
		}
		return nil
	})
	return name, dims, err
}

// matMulNodes plans the MatMul part of the bf16 rewrite of a GraphProto:
// every MatMul whose right operand is a 2-D initializer (directly or
// through Identity and Cast nodes) becomes
// ai.vidseg.Bf16MatMul; when its only consumer is an Add of a 1-D
// initializer as wide as its output, the Add's bias moves into the node,
// which takes over the Add's output, and the Add is dropped (nil in the
// plan). The plan is keyed by node order; it also reports how many MatMuls
// and biases it took.
func matMulNodes(graph []byte) (plan map[int][]byte, matmuls, biases int, err error) {
	var nodes []pbNode
	inits := map[string][]int64{}
	consumers := map[string][]int{} // value -> indices of the nodes reading it
	graphOut := map[string]bool{}
	subgraphs := false
	err = pbFields(graph, func(field, wire int, _ uint64, data []byte) error {
		if wire != 2 {
			return nil
		}
		switch field {
		case pbGraphNode:
			n, err := parseNode(data)
			if err != nil {
				return err
			}
			for _, in := range n.inputs {
				consumers[in] = append(consumers[in], len(nodes))
			}
			subgraphs = subgraphs || n.subgraph
			nodes = append(nodes, n)
		case pbGraphInitializer:
			name, dims, err := tensorDims(data)
			if err != nil {
				return err
			}
			inits[name] = dims
		case pbGraphOutput:
			return pbFields(data, func(field, wire int, _ uint64, d []byte) error {
				if field == pbValueInfoName && wire == 2 {
					graphOut[string(d)] = true
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, err
	}
	// Constants reach the products through Identity (weights shared by
	// the encoder's row bands) and Cast to float (the fixture stores its
	// weights in float16).
	from := map[string]string{}
	for _, n := range nodes {
		if n.domain == "" && len(n.inputs) == 1 && len(n.outputs) == 1 &&
			(n.opType == "Identity" || n.opType == "Cast" && n.to == onnxFloat) {
			from[n.outputs[0]] = n.inputs[0]
		}
	}
	weight := func(name string) ([]int64, bool) {
		for range 4 {
			if d, ok := inits[name]; ok {
				return d, true
			}
			if name = from[name]; name == "" {
				break
			}
		}
		return nil, false
	}
	plan = map[int][]byte{}
	for i, n := range nodes {
		if n.opType != "MatMul" || n.domain != "" || len(n.inputs) != 2 || len(n.outputs) != 1 || n.inputs[0] == "" {
			continue
		}
		w, ok := weight(n.inputs[1])
		if !ok || len(w) != 2 {
			continue
		}
		inputs, output := n.inputs, n.outputs[0]
		// A bias Add that only this product feeds; with subgraphs in the
		// graph a value may have readers this scan does not see.
		if readers := consumers[output]; len(readers) == 1 && !graphOut[output] && !subgraphs {
			j := readers[0]
			add := nodes[j]
			if _, planned := plan[j]; !planned && add.opType == "Add" && add.domain == "" && len(add.inputs) == 2 && len(add.outputs) == 1 {
				bias := add.inputs[0]
				if bias == output {
					bias = add.inputs[1]
				}
				if d, ok := weight(bias); ok && bias != output && slices.Equal(d, w[1:]) {
					inputs, output = []string{n.inputs[0], n.inputs[1], bias}, add.outputs[0]
					plan[j] = nil
					biases++
				}
			}
		}
		node := slices.Clone(n.name)
		for _, in := range inputs {
			node = pbAppendBytes(node, pbNodeInput, []byte(in))
		}
		node = pbAppendBytes(node, pbNodeOutput, []byte(output))
		node = pbAppendBytes(node, pbNodeOpType, []byte(bf16op.MatMulOpName))
		node = pbAppendBytes(node, pbNodeDomain, []byte(bf16op.DomainName))
		plan[i] = pbAppendBytes(nil, pbGraphNode, node)
		matmuls++
	}
	return plan, matmuls, biases, nil
}
