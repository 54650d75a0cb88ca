package decode

import "testing"

// BenchmarkOrientation measures turning one decoded 1920x1080 RGB frame a
// quarter turn (the cost a phone video adds per frame).
func BenchmarkOrientation(b *testing.B) {
	const w, h = 1920, 1080
	src, dst := make([]byte, w*h*3), make([]byte, w*h*3)
	o := orientation{transpose: true, flipX: true}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		o.apply(dst, src, w, h)
	}
}
