package sam

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/vidseg/vidseg/sam/internal/bf16op"
)

// Values of Options.MatMul.
const (
	// MatMulFP32 runs every matrix product in float32 (the default).
	MatMulFP32 = "fp32"
	// MatMulBF16 runs the weight products of every graph but the mask
	// decoder (linear layers with their bias, 1x1 convolutions with their
	// bias and residual, RepViT's channel mixers whole) in vidseg's own
	// operators (sam/internal/bf16op): products in bfloat16, accumulation
	// in float32.
	// On CPUs with AVX-512 BF16 about 1.6x as fast; masks differ slightly
	// from float32 (docs/benchmarks.md). CPU only.
	MatMulBF16 = "bf16"
)

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
	attrs           []pbAttr
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
			n.attrs = append(n.attrs, a)
			return err
		}
		return nil
	})
	return n, err
}

// pbAttr is what the rewrites read of an AttributeProto.
type pbAttr struct {
	name  string
	i     uint64   // an int attribute's value
	f     float32  // a float attribute's value
	ints  []uint64 // an ints attribute's values (as varints: negative ones are huge)
	s     string   // a string attribute's value
	t     []byte   // a tensor attribute's TensorProto (a Constant's value)
	graph bool     // holds a graph (If, Loop, Scan bodies)
}

func parseAttr(b []byte) (pbAttr, error) {
	var a pbAttr
	err := pbRawFields(b, func(field, wire int, v uint64, d, raw []byte) error {
		switch {
		case field == pbAttrName && wire == 2:
			a.name = string(d)
		case field == pbAttrFloat && wire == 5:
			a.f = math.Float32frombits(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
		case field == pbAttrInt && wire == 0:
			a.i = v
		case field == pbAttrString && wire == 2:
			a.s = string(d)
		case field == pbAttrTensor && wire == 2:
			a.t = d
		case field == pbAttrInts && wire == 0:
			a.ints = append(a.ints, v)
		case field == pbAttrInts && wire == 2: // packed
			for len(d) > 0 {
				x, n := uvarint(d)
				if n <= 0 {
					return errCorrupt
				}
				a.ints, d = append(a.ints, x), d[n:]
			}
		case field == pbAttrGraph || field == pbAttrGraphs:
			a.graph = true
		}
		return nil
	})
	return a, err
}

// attr returns n's attribute name, if it has it.
func (n *pbNode) attr(name string) (pbAttr, bool) {
	for _, a := range n.attrs {
		if a.name == name {
			return a, true
		}
	}
	return pbAttr{}, false
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

// graphScan is what the weight-product rewrites read of a GraphProto: its
// nodes in order, its initializers' dimensions, each value's readers.
type graphScan struct {
	nodes     []pbNode
	inits     map[string][]int64
	scalars   map[string]float32 // float initializers of one value
	consumers map[string][]int   // value -> indices of the nodes reading it
	producer  map[string]int     // value -> index of the node writing it
	graphOut  map[string]bool
	subgraphs bool
	from      map[string]string // Identity and Cast-to-float outputs -> their input
}

func scanGraph(graph []byte) (*graphScan, error) {
	g := &graphScan{inits: map[string][]int64{}, scalars: map[string]float32{}, consumers: map[string][]int{}, producer: map[string]int{}, graphOut: map[string]bool{}, from: map[string]string{}}
	err := pbFields(graph, func(field, wire int, _ uint64, data []byte) error {
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
				g.consumers[in] = append(g.consumers[in], len(g.nodes))
			}
			for _, out := range n.outputs {
				g.producer[out] = len(g.nodes)
			}
			g.subgraphs = g.subgraphs || n.subgraph
			g.nodes = append(g.nodes, n)
		case pbGraphInitializer:
			name, dims, err := tensorDims(data)
			if err != nil {
				return err
			}
			g.inits[name] = dims
			if v, ok := scalarFloat(data); ok {
				g.scalars[name] = v
			}
		case pbGraphOutput:
			return pbFields(data, func(field, wire int, _ uint64, d []byte) error {
				if field == pbValueInfoName && wire == 2 {
					g.graphOut[string(d)] = true
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Constants reach the products through Identity (weights shared by
	// the encoder's row bands) and Cast to float (the fixture stores its
	// weights in float16).
	for _, n := range g.nodes {
		if n.domain == "" && len(n.inputs) == 1 && len(n.outputs) == 1 &&
			(n.opType == "Identity" || n.opType == "Cast" && n.to == onnxFloat) {
			g.from[n.outputs[0]] = n.inputs[0]
		}
	}
	return g, nil
}

// weight returns the dimensions of the initializer behind value name
// (directly or through Identity and Cast nodes).
func (g *graphScan) weight(name string) ([]int64, bool) {
	for range 4 {
		if d, ok := g.inits[name]; ok {
			return d, true
		}
		if name = g.from[name]; name == "" {
			break
		}
	}
	return nil, false
}

// soleAdd returns the index of the Add node that is value v's only reader,
// and its other operand, when plan has not taken it yet (sole).
func (g *graphScan) soleAdd(v string, plan map[int][]byte) (int, string, bool) {
	j, ok := g.sole(v, plan, "Add")
	if !ok {
		return 0, "", false
	}
	o := other(g.nodes[j], v)
	return j, o, o != ""
}

// opNode encodes a node of vidseg's operator op that takes over node n
// (its name) with inputs, output and attributes (AttributeProtos).
func opNode(n pbNode, op string, inputs []string, output string, attrs ...[]byte) []byte {
	node := slices.Clone(n.name)
	for _, in := range inputs {
		node = pbAppendBytes(node, pbNodeInput, []byte(in))
	}
	node = pbAppendBytes(node, pbNodeOutput, []byte(output))
	node = pbAppendBytes(node, pbNodeOpType, []byte(op))
	node = pbAppendBytes(node, pbNodeDomain, []byte(bf16op.DomainName))
	for _, a := range attrs {
		node = pbAppendBytes(node, pbNodeAttribute, a)
	}
	return pbAppendBytes(nil, pbGraphNode, node)
}

// transposed returns the 2-D weight behind value name when a Transpose
// (perm [1, 0] or none) of it makes name, with the Transpose's index.
func (g *graphScan) transposed(name string) (src string, dims []int64, at int, ok bool) {
	k, written := g.producer[name]
	if !written {
		return "", nil, 0, false
	}
	n := g.nodes[k]
	if n.opType != "Transpose" || n.domain != "" || len(n.inputs) != 1 || len(n.outputs) != 1 {
		return "", nil, 0, false
	}
	if p, has := n.attr("perm"); has && !slices.Equal(p.ints, []uint64{1, 0}) {
		return "", nil, 0, false
	}
	d, ok := g.weight(n.inputs[0])
	return n.inputs[0], d, k, ok && len(d) == 2
}

// gemmTransB says whether Gemm node n is a plain weight product (no
// transA, alpha and beta 1) and whether its weight is transposed.
func gemmTransB(n pbNode) (transB, ok bool) {
	for _, a := range n.attrs {
		switch {
		case a.name == "transB":
			transB = a.i == 1
		case a.name == "transA" && a.i == 0, (a.name == "alpha" || a.name == "beta") && a.f == 1:
		default:
			return false, false
		}
	}
	return transB, true
}

// matMuls plans the weight-product part of the bf16 rewrite into plan
// (keyed by node order) and reports how many products and biases it took:
//   - a MatMul whose right operand is a 2-D initializer (directly, through
//     Identity and Cast nodes, or through a Transpose of one: the memory
//     attention's projections) becomes ai.vidseg.Bf16MatMul (transB=1 for
//     the transposed weight, the Transpose dropped when it has no other
//     reader); when its only consumer is an Add of a 1-D initializer as
//     wide as its output, the Add's bias moves into the node, which takes
//     over the Add's output, and the Add is dropped (nil in the plan);
//   - a Gemm with a 2-D initializer weight, no transA and alpha and beta 1
//     (the memory attention's MLPs) becomes the same operator, its C the
//     bias when it is a 1-D initializer;
//   - a product whose only consumer (after its bias) is a Relu takes it
//     in (relu=1).
func (g *graphScan) matMuls(plan map[int][]byte) (matmuls, biases int) {
	for i, n := range g.nodes {
		if n.domain != "" || len(n.outputs) != 1 || len(n.inputs) < 2 || n.inputs[0] == "" {
			continue
		}
		var (
			w      []int64
			ok     bool
			transB bool
			inputs = n.inputs[:2]
			drop   = -1
		)
		switch {
		case n.opType == "MatMul" && len(n.inputs) == 2:
			if w, ok = g.weight(n.inputs[1]); !ok {
				var src string
				if src, w, drop, ok = g.transposed(n.inputs[1]); ok {
					inputs, transB = []string{n.inputs[0], src}, true
					if len(g.consumers[n.inputs[1]]) != 1 || g.graphOut[n.inputs[1]] {
						drop = -1
					}
				}
			}
		case n.opType == "Gemm" && len(n.inputs) <= 3:
			var plain bool
			if transB, plain = gemmTransB(n); plain {
				w, ok = g.weight(n.inputs[1])
			}
			if ok && len(n.inputs) == 3 && n.inputs[2] != "" {
				c, isWeight := g.weight(n.inputs[2])
				if ok = isWeight && len(w) == 2 && len(c) == 1 && c[0] == gemmWidth(w, transB); ok {
					inputs = n.inputs
					biases++
				}
			}
		}
		if !ok || len(w) != 2 {
			continue
		}
		width := gemmWidth(w, transB)
		output := n.outputs[0]
		if len(inputs) == 2 {
			if j, bias, ok := g.soleAdd(output, plan); ok {
				if d, ok := g.weight(bias); ok && slices.Equal(d, []int64{width}) {
					inputs, output = []string{inputs[0], inputs[1], bias}, g.nodes[j].outputs[0]
					plan[j] = nil
					biases++
				}
			}
		}
		var attrs [][]byte
		if transB {
			attrs = append(attrs, intAttr("transB", 1))
		}
		if j, ok := g.sole(output, plan, "Relu"); ok && len(g.nodes[j].inputs) == 1 {
			output = g.nodes[j].outputs[0]
			plan[j] = nil
			attrs = append(attrs, intAttr("relu", 1))
		}
		if drop >= 0 {
			plan[drop] = nil
		}
		plan[i] = opNode(n, bf16op.MatMulOpName, inputs, output, attrs...)
		matmuls++
	}
	return matmuls, biases
}

// gemmWidth is the output width of a product with weight dimensions w.
func gemmWidth(w []int64, transB bool) int64 {
	if transB {
		return w[0]
	}
	return w[1]
}

// intAttr encodes an int AttributeProto.
func intAttr(name string, v uint64) []byte {
	a := pbAppendBytes(nil, pbAttrName, []byte(name))
	a = binary.AppendUvarint(a, pbAttrInt<<3)
	a = binary.AppendUvarint(a, v)
	a = binary.AppendUvarint(a, pbAttrType<<3)
	return binary.AppendUvarint(a, pbAttrTypeInt)
}

// pointwise says whether Conv node n is a 1x1 convolution with stride 1,
// no padding, no dilation and one group, of a 4-D constant weight [out,
// in, 1, 1], and an optional constant bias [out].
func (g *graphScan) pointwise(n pbNode) bool {
	if n.opType != "Conv" || n.domain != "" || len(n.inputs) < 2 || len(n.inputs) > 3 || len(n.outputs) != 1 || n.inputs[0] == "" {
		return false
	}
	w, ok := g.weight(n.inputs[1])
	if !ok || len(w) != 4 || w[2] != 1 || w[3] != 1 {
		return false
	}
	if len(n.inputs) == 3 && n.inputs[2] != "" {
		if b, ok := g.weight(n.inputs[2]); !ok || !slices.Equal(b, w[:1]) {
			return false
		}
	}
	all := func(name string, want uint64) bool {
		a, ok := n.attr(name)
		return !ok || !slices.ContainsFunc(a.ints, func(v uint64) bool { return v != want })
	}
	group, ok := n.attr("group")
	pad, padded := n.attr("auto_pad")
	return (!ok || group.i == 1) && (!padded || pad.s == "NOTSET" || pad.s == "VALID") &&
		all("kernel_shape", 1) && all("strides", 1) && all("dilations", 1) && all("pads", 0)
}

// convMinChannels is the fewest input channels for which a lone pointwise
// convolution goes to the bf16 operator: with fewer, it is bound by memory,
// not products, and ONNX Runtime's float32 kernel was faster (RepViT's 48 ->
// 32 at 256 x 256 pixels: 6.2 against 8.5 ms; 96 -> 64 at 128 x 128: 4.5
// against 6.1 ms; 192 -> 256 at 64 x 64: 7.3 against 6.3 ms).
const convMinChannels = 128

// convs plans the pointwise-convolution part of the bf16 rewrite into
// plan: each Conv that pointwise accepts, with at least convMinChannels
// input channels, becomes ai.vidseg.Bf16Conv1x1 with
// its weight and bias; when its only consumer is an Add of another computed
// value (a residual), that value becomes the node's fourth input and the
// node takes the Add's place and output (the Conv is dropped). The operator
// checks at run time that the residual has the output's shape or is one
// image for the batch (the broadcasts these graphs make), and names the
// node otherwise.
func (g *graphScan) convs(plan map[int][]byte) (convs, residuals int) {
	for i, n := range g.nodes {
		if _, planned := plan[i]; planned || !g.pointwise(n) {
			continue
		}
		if w, _ := g.weight(n.inputs[1]); w[1] < convMinChannels {
			continue
		}
		inputs, output, at := slices.Clone(n.inputs), n.outputs[0], i
		if j, res, ok := g.soleAdd(output, plan); ok {
			if _, constant := g.weight(res); !constant && res != "" {
				for len(inputs) < 3 {
					inputs = append(inputs, "")
				}
				// The node goes where the Add was: the residual may be
				// computed after the convolution.
				inputs, output, at = append(inputs, res), g.nodes[j].outputs[0], j
				plan[i] = nil
				residuals++
			}
		}
		plan[at] = opNode(n, bf16op.ConvOpName, inputs, output)
		convs++
	}
	return convs, residuals
}

// sole returns the index of the node of type opType that is value v's
// only reader, when plan has not taken it. With subgraphs in the graph a
// value may have readers this scan does not see: then none is sole.
func (g *graphScan) sole(v string, plan map[int][]byte, opType string) (int, bool) {
	readers := g.consumers[v]
	if len(readers) != 1 || g.graphOut[v] || g.subgraphs {
		return 0, false
	}
	j := readers[0]
	n := g.nodes[j]
	if _, planned := plan[j]; planned || n.opType != opType || n.domain != "" || len(n.outputs) != 1 {
		return 0, false
	}
	return j, true
}

// constant returns the value of a scalar float Constant node's output v,
// or of the scalar initializer v (a folded package's, tools/export/fold.py).
func (g *graphScan) constant(v string) (float32, bool) {
	if c, ok := g.scalars[v]; ok {
		return c, true
	}
	k, written := g.producer[v]
	if !written || g.nodes[k].opType != "Constant" || g.nodes[k].domain != "" {
		return 0, false
	}
	a, ok := g.nodes[k].attr("value")
	if !ok || a.t == nil {
		return 0, false
	}
	return scalarFloat(a.t)
}

// scalarFloat decodes a TensorProto holding one float (raw_data or
// float_data).
func scalarFloat(t []byte) (float32, bool) {
	var (
		val  float32
		n    int
		kind uint64
	)
	err := pbFields(t, func(field, wire int, v uint64, d []byte) error {
		switch {
		case field == pbTensorDims:
			if v != 1 || wire != 0 {
				n += 2 // more than one value
			}
		case field == pbTensorDataType && wire == 0:
			kind = v
		case (field == pbTensorRawData || field == pbTensorFloatData) && wire == 2:
			if len(d) != 4 {
				return errCorrupt
			}
			val = math.Float32frombits(binary.LittleEndian.Uint32(d))
			n++
		}
		return nil
	})
	return val, err == nil && n == 1 && kind == onnxFloat
}

// other returns the operand of two-input node n that is not v ("" if both
// are, or neither).
func other(n pbNode, v string) string {
	switch {
	case len(n.inputs) != 2 || n.inputs[0] == n.inputs[1]:
		return ""
	case n.inputs[0] == v:
		return n.inputs[1]
	case n.inputs[1] == v:
		return n.inputs[0]
	}
	return ""
}

// isConst says whether value v is the scalar constant want.
func (g *graphScan) isConst(v string, want float32) bool {
	c, ok := g.constant(v)
	return ok && math.Abs(float64(c-want)) <= 1e-6*math.Abs(float64(want))
}

// mlps plans the fused channel mixers into plan: a pointwise convolution
// (pointwise) whose output h feeds only the exact GELU as PyTorch exports
// it, Mul(Mul(h, Add(Erf(Div(h, sqrt 2)), 1)), 0.5), whose output feeds
// only a second pointwise convolution, optionally followed by the Add of a
// residual (as convs), becomes one ai.vidseg.Bf16ConvMLP in the last node's
// place; the others are dropped. It reports how many it fused.
func (g *graphScan) mlps(plan map[int][]byte) (mlps int) {
	for i, conv1 := range g.nodes {
		if _, planned := plan[i]; planned || !g.pointwise(conv1) {
			continue
		}
		h := conv1.outputs[0]
		readers := g.consumers[h]
		if len(readers) != 2 || g.graphOut[h] || g.subgraphs {
			continue
		}
		div, mul := g.nodes[readers[0]], readers[1]
		idiv := readers[0]
		if div.opType != "Div" {
			div, idiv, mul = g.nodes[readers[1]], readers[1], readers[0]
		}
		if div.opType != "Div" || div.domain != "" || len(div.inputs) != 2 || div.inputs[0] != h || !g.isConst(div.inputs[1], math.Sqrt2) {
			continue
		}
		ierf, ok := g.sole(div.outputs[0], plan, "Erf")
		if !ok {
			continue
		}
		iadd, ok := g.sole(g.nodes[ierf].outputs[0], plan, "Add")
		if !ok || !g.isConst(other(g.nodes[iadd], g.nodes[ierf].outputs[0]), 1) {
			continue
		}
		if imul, ok := g.sole(g.nodes[iadd].outputs[0], plan, "Mul"); !ok || imul != mul || other(g.nodes[mul], g.nodes[iadd].outputs[0]) != h {
			continue
		}
		ihalf, ok := g.sole(g.nodes[mul].outputs[0], plan, "Mul")
		if !ok || !g.isConst(other(g.nodes[ihalf], g.nodes[mul].outputs[0]), 0.5) {
			continue
		}
		iconv2, ok := g.sole(g.nodes[ihalf].outputs[0], plan, "Conv")
		if !ok {
			continue
		}
		conv2 := g.nodes[iconv2]
		if !g.pointwise(conv2) || conv2.inputs[0] != g.nodes[ihalf].outputs[0] {
			continue
		}
		w1, _ := g.weight(conv1.inputs[1])
		w2, _ := g.weight(conv2.inputs[1])
		if w1[0] != w2[1] || w1[1] != w2[0] {
			continue
		}
		bias := func(n pbNode) string {
			if len(n.inputs) == 3 {
				return n.inputs[2]
			}
			return ""
		}
		inputs := []string{conv1.inputs[0], conv1.inputs[1], bias(conv1), conv2.inputs[1], bias(conv2)}
		output, at := conv2.outputs[0], iconv2
		if j, res, ok := g.soleAdd(output, plan); ok {
			if _, constant := g.weight(res); !constant && res != "" {
				inputs, output, at = append(inputs, res), g.nodes[j].outputs[0], j
			}
		}
		for _, k := range []int{i, idiv, ierf, iadd, mul, ihalf, iconv2} {
			plan[k] = nil
		}
		plan[at] = opNode(conv1, bf16op.MLPOpName, inputs, output)
		mlps++
	}
	return mlps
}
