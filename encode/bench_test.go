package encode_test

import (
	"testing"
	"time"

	"github.com/vidseg/vidseg/encode"
)

// BenchmarkEncode720p measures realtime encoding of 1280x720 RGB frames
// (including the RGB -> YUV 4:2:0 conversion); frames/s per codec.
func BenchmarkEncode720p(b *testing.B) {
	const W, H = 1280, 720
	frames := make([][]byte, 8)
	for i := range frames {
		f := make([]byte, W*H*3)
		for j := range f {
			f[j] = byte((j/3)%W/5 + i*7 + (j/(W*3))/4)
		}
		frames[i] = f
	}
	for _, codec := range []string{encode.VP8, encode.H264} {
		b.Run(codec, func(b *testing.B) {
			e, err := encode.NewEncoder(encode.Options{Codec: codec, Width: W, Height: H, FPS: 30, Bitrate: 2_000_000})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := e.Encode(frames[i%len(frames)], time.Duration(i)*time.Second/30); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
		})
	}
}
