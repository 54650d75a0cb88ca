package decode_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// decodeAll decodes the whole file once and returns the frame count.
func decodeAll(b *testing.B, path string, opts decode.Options) int {
	d, err := decode.Open(context.Background(), path, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	n := 0
	for {
		f, err := d.Next(context.Background())
		if err != nil {
			break
		}
		f.Release()
		n++
	}
	return n
}

// BenchmarkDecodeRGB decodes 01_dog.mp4 (1280x720, 289 frames) to RGB24 and,
// in the same run, times the ffmpeg CLI doing the same conversion
// (ffmpeg -v error -i FILE -f rawvideo -pix_fmt rgb24 -y /dev/null).
// Compare the frames/s metrics of the two sub-benchmarks.
func BenchmarkDecodeRGB(b *testing.B) {
	path := testutil.SharedVideo(b, "01_dog.mp4")
	b.Run("vidseg", func(b *testing.B) {
		frames := 0
		start := time.Now()
		for i := 0; i < b.N; i++ {
			frames += decodeAll(b, path, decode.Options{})
		}
		b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "frames/s")
	})
	b.Run("ffmpeg-cli", func(b *testing.B) {
		bin, err := exec.LookPath("ffmpeg")
		if err != nil {
			b.Skip("ffmpeg CLI not installed")
		}
		start := time.Now()
		for i := 0; i < b.N; i++ {
			out, err := exec.Command(bin, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null").CombinedOutput()
			if err != nil {
				b.Fatalf("ffmpeg: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(289*b.N)/time.Since(start).Seconds(), "frames/s")
	})
}

// BenchmarkModel1024 measures the cost of the extra 1024x1024 bicubic model
// buffer: compare with BenchmarkDecodeRGB/vidseg; ms/frame is the whole
// decode + both conversions.
func BenchmarkModel1024(b *testing.B) {
	path := testutil.SharedVideo(b, "01_dog.mp4")
	frames := 0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		frames += decodeAll(b, path, decode.Options{ModelSize: 1024})
	}
	el := time.Since(start)
	b.ReportMetric(float64(frames)/el.Seconds(), "frames/s")
	b.ReportMetric(el.Seconds()*1000/float64(frames), "ms/frame")
}
