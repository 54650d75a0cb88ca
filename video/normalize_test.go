package video_test

import (
	"math"
	"testing"

	"github.com/vidseg/vidseg/video"
)

func TestNormalize(t *testing.T) {
	// 2x2 image, every byte value class: 0, 255, and ordinary ones.
	rgb := []byte{0, 128, 255, 1, 2, 3, 254, 100, 37, 9, 200, 77}
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	dst := make([]float32, len(rgb))
	video.Normalize(rgb, dst, mean, std)
	n := len(rgb) / 3
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			x := rgb[i*3+c]
			// The same float32 operations in the same order, written out.
			v := float32(x) / float32(255)
			v -= mean[c]
			v /= std[c]
			if got := dst[c*n+i]; math.Float32bits(got) != math.Float32bits(v) {
				t.Errorf("pixel %d channel %d (value %d): got %v, want %v", i, c, x, got, v)
			}
		}
	}
	// Known values (PyTorch float32: (torch.tensor([0,255.])/255 - 0.485)/0.229).
	if got := dst[0]; math.Abs(float64(got)-(-2.1179039)) > 1e-6 {
		t.Errorf("R of 0 = %v, want -2.1179039", got)
	}
}

// BenchmarkNormalize1024 is the model-side float conversion of one 1024x1024 frame.
func BenchmarkNormalize1024(b *testing.B) {
	rgb := make([]byte, 1024*1024*3)
	for i := range rgb {
		rgb[i] = byte(i * 31)
	}
	dst := make([]float32, len(rgb))
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	b.SetBytes(int64(len(rgb)))
	for i := 0; i < b.N; i++ {
		video.Normalize(rgb, dst, mean, std)
	}
}
