package autoseg

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/sam"
)

// BenchmarkEverything times one segment-everything frame: the image
// encoder once, then the grid through the mask decoder and the Go
// post-processing, reported per frame as encoder-ms, decoder-ms and
// post-ms. By default the 256-px fixture on moving_shape with the
// default grid; AUTOSEG_BENCH_MODEL (a model directory),
// AUTOSEG_BENCH_INPUT (a video), AUTOSEG_BENCH_POINTS (points per side),
// AUTOSEG_BENCH_LENIENT (non-empty: the thresholds the random-weight
// fixtures' masks pass, so that the post-processing has work) and
// AUTOSEG_BENCH_ARENA (non-empty: ONNX Runtime's memory arena) change
// that. docs/benchmarks.md compares it with the official generator.
func BenchmarkEverything(b *testing.B) {
	dir := os.Getenv("AUTOSEG_BENCH_MODEL")
	if dir == "" {
		dir = testutil.SmallModel(b)
	}
	input := os.Getenv("AUTOSEG_BENCH_INPUT")
	if input == "" {
		input = testutil.Clip(b, "moving_shape")
	}
	p := DefaultParams()
	if s := os.Getenv("AUTOSEG_BENCH_POINTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("AUTOSEG_BENCH_POINTS=%q: %v", s, err)
		}
		p.PointsPerSide = n
	}
	if os.Getenv("AUTOSEG_BENCH_LENIENT") != "" {
		p.PredIoUThresh, p.StabilityScoreOffset, p.StabilityScoreThresh = 0.5, 0.02, 0.7
	}
	lib, err := sam.FindRuntimeLibrary("")
	if err != nil {
		b.Skip(err)
	}
	rt, err := sam.NewRuntime(lib)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	m, err := sam.Open(rt, dir, sam.Options{Provider: sam.ProviderCPU, Threads: 2, Arena: os.Getenv("AUTOSEG_BENCH_ARENA") != "",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	f := frame(b, input, 0, m.Manifest().ImageSize)
	var enc, dec, post time.Duration
	masks := 0
	b.ResetTimer()
	for range b.N {
		got, st, e, err := Segment(context.Background(), m, f, p)
		if err != nil {
			b.Fatal(err)
		}
		enc, dec, post, masks = enc+e, dec+st.Decoder, post+st.Post, len(got)
	}
	n := float64(b.N)
	b.ReportMetric(float64(enc.Milliseconds())/n, "encoder-ms")
	b.ReportMetric(float64(dec.Milliseconds())/n, "decoder-ms")
	b.ReportMetric(float64(post.Milliseconds())/n, "post-ms")
	b.ReportMetric(float64(masks), "masks")
}
