package video

// Normalize converts packed RGB24 (HWC) to planar CHW float32, computing
// exactly ((float32(x) / 255) - mean[c]) / std[c] in float32 and in that
// order, so the result is bit-identical to PyTorch's
// (img / 255.0 - mean) / std on a float32 tensor. dst must hold len(rgb) floats.
// The division is kept (not a multiply by a reciprocal) because that would
// change the last bit for some inputs.
func Normalize(rgb []byte, dst []float32, mean, std [3]float32) {
	n := len(rgb) / 3
	if len(dst) < 3*n {
		panic("video.Normalize: dst shorter than 3 * pixels") // programming error, like copy into a short slice
	}
	// A 256-entry table per channel is exact: the same float32 ops per value.
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			lut[c][v] = ((float32(v) / 255) - mean[c]) / std[c]
		}
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	l0, l1, l2 := &lut[0], &lut[1], &lut[2]
	for i := 0; i < n; i++ {
		p := rgb[3*i : 3*i+3 : 3*i+3]
		r[i] = l0[p[0]]
		g[i] = l1[p[1]]
		b[i] = l2[p[2]]
	}
}
