package sam

import "github.com/vidseg/vidseg/sam/internal/bf16op"

// Values of Options.Attention.
const (
	// AttentionFP32 runs every attention in float32 (the default).
	AttentionFP32 = "fp32"
	// AttentionBF16 runs the image encoder's and the memory attention's
	// attentions in vidseg's own operator (sam/internal/bf16op): products in
	// bfloat16, accumulation and softmax in float32. On CPUs with AVX-512
	// BF16 they take about half the time (most of the memory attention's);
	// masks differ slightly from float32 (docs/benchmarks.md). CPU only.
	AttentionBF16 = "bf16"
)

// The nodes the attention rewrite replaces.
const (
	msDomain         = "com.microsoft"
	fusedAttentionOp = "MultiHeadAttention"
)

// attentionNode returns the replacement of node, or false when it is not a
// fused attention the operator computes.
func attentionNode(node []byte) ([]byte, bool, error) {
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
			a, err := parseAttr(data)
			if err != nil {
				return err
			}
			switch a.name {
			case "num_heads":
				heads = a.i
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
	out = pbAppendBytes(out, pbNodeOpType, []byte(bf16op.OpName))
	out = pbAppendBytes(out, pbNodeDomain, []byte(bf16op.DomainName))
	for _, a := range attrs {
		out = append(out, a...)
	}
	return out, true, nil
}

// ParseAttention validates a value of Options.Attention and returns it
// ("" means fp32).
func ParseAttention(a string) (string, error) { return parsePrecision("attention", a) }
