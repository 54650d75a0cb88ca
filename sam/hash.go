package sam

// HashUniform returns n deterministic pseudo-random values in
// [-scale, scale), bit-exact with the exporter's generator of reference
// inputs (docs/exporter.md):
//
//	u = uint32(i*2654435761 + seed*40503)
//	v = float32(u>>8)/float32(1<<24)*2 - 1
//	value = v*scale
//
// with float32 arithmetic throughout. Tests use it to feed the Go side the
// same inputs as the PyTorch side without shipping them.
func HashUniform(n int, seed uint32, scale float32) []float32 {
	out := make([]float32, n)
	s := seed * 40503
	for i := range out {
		u := uint32(i)*2654435761 + s
		// Explicit conversions round each step, so no fused multiply-add
		// can differ from numpy's separate float32 operations.
		v := float32(float32(u>>8) / float32(1<<24))
		v = float32(v * 2)
		v = float32(v - 1)
		out[i] = float32(v * scale)
	}
	return out
}
