package sam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// BenchmarkGraphs measures each graph's latency on the committed fixture
// and, when present, the full-size random export
// (third_party/models/sam2.1_hiera_t_random_full). SAM_BENCH_THREADS
// (default 2), SAM_BENCH_OPT (all, extended, basic, none; default all),
// SAM_BENCH_ARENA (non-empty: Options.Arena) and SAM_BENCH_SPIN (non-empty:
// Options.SpinWait) and SAM_BENCH_ATTENTION=bf16, SAM_BENCH_MATMUL=bf16 select the session settings, SAM_BENCH_PROFILE=PREFIX
// writes ONNX Runtime profiles (tools/gpu/ortprof.py); SAM_BENCH_MODEL replaces
// the full-size export. Each graph also reports the process's peak RSS so
// far (peak-MB; run one -bench pattern per process to attribute it):
//
//	go test ./sam -run XXX -bench Graphs -benchtime 5x
func BenchmarkGraphs(b *testing.B) {
	dirs := map[string]string{"fixture": fixtureDirOrEmpty(b), "full": ""}
	full := filepath.Join(testutil.RepoRoot(b), "third_party", "models", "sam2.1_hiera_t_random_full")
	if env := os.Getenv("SAM_BENCH_MODEL"); env != "" {
		full = env
	}
	if _, err := os.Stat(filepath.Join(full, manifestName)); err == nil {
		dirs["full"] = full
	}
	rt := newTestRuntime(b)
	for _, name := range []string{"fixture", "full"} {
		b.Run(name, func(b *testing.B) {
			if dirs[name] == "" {
				b.Skipf("no %s model", name)
			}
			benchModel(b, rt, dirs[name])
		})
	}
}

// cpuTime is the process's user+system CPU time, ORT's threads included.
// On a shared machine it is steadier than wall time; ORT's spinning
// threads count in it too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs fn b.N times and reports CPU seconds per op beside wall time.
func loop(b *testing.B, fn func() error) {
	c0 := cpuTime()
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-MB") // kilobytes on Linux
	}
}

func fixtureDirOrEmpty(b *testing.B) string {
	d := filepath.Join(testutil.RepoRoot(b), testutil.FixtureModelDir)
	if env := os.Getenv("SAM_TEST_MODEL"); env != "" {
		d = env
	}
	if _, err := os.Stat(filepath.Join(d, manifestName)); err != nil {
		return ""
	}
	return d
}

func benchModel(b *testing.B, rt *Runtime, dir string) {
	threads := 2
	if s := os.Getenv("SAM_BENCH_THREADS"); s != "" {
		if _, err := fmt.Sscan(s, &threads); err != nil {
			b.Fatalf("SAM_BENCH_THREADS=%q: %v", s, err)
		}
	}
	m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: threads, GraphOptimization: os.Getenv("SAM_BENCH_OPT"),
		Arena: os.Getenv("SAM_BENCH_ARENA") != "", SpinWait: os.Getenv("SAM_BENCH_SPIN") != "",
		Profile: os.Getenv("SAM_BENCH_PROFILE"), Attention: os.Getenv("SAM_BENCH_ATTENTION"), MatMul: os.Getenv("SAM_BENCH_MATMUL"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	image := HashUniform(3*1024*1024, 1, 2)
	f, err := m.EncodeImage(ctx, image)
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{Coords: [][2]float32{{400, 300}}, Labels: []float32{1}})
	if err != nil {
		b.Fatal(err)
	}
	hi := make([]float32, 1024*1024)
	UpsampleBilinear(c.Masks[1], 256, 256, hi, 1024, 1024)
	feat, pos, err := m.EncodeMemory(ctx, f.VisionFeat, hi, true, c.ObjectScore)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("image_encoder", func(b *testing.B) {
		loop(b, func() error { _, err := m.EncodeImage(ctx, image); return err })
	})
	b.Run("mask_decoder", func(b *testing.B) {
		p := Prompt{Coords: [][2]float32{{400, 300}}, Labels: []float32{1}}
		loop(b, func() error { _, err := m.DecodeMasks(ctx, f.VisionFeat, f, p); return err })
	})
	b.Run("memory_encoder", func(b *testing.B) {
		loop(b, func() error { _, _, err := m.EncodeMemory(ctx, f.VisionFeat, hi, false, c.ObjectScore); return err })
	})
	// The steady tracking state: 1 conditioning frame + 6 recent frames
	// and 16 object pointers; and an early frame with 2 frames, 2 pointers.
	for _, s := range []struct {
		name string
		m, p int
	}{{"memory_attention_M7_P16", 7, 16}, {"memory_attention_M2_P2", 2, 2}} {
		frames := make([]MemoryFrame, s.m)
		for i := range frames {
			frames[i] = MemoryFrame{Feat: feat, Pos: pos, Slot: i}
		}
		ptrs := make([]Pointer, s.p)
		for i := range ptrs {
			ptrs[i] = Pointer{Vec: c.ObjPtr[1], Offset: float32(i + 1)}
		}
		b.Run(s.name, func(b *testing.B) {
			loop(b, func() error { _, err := m.AttendMemory(ctx, f, frames, ptrs); return err })
		})
	}
}

// BenchmarkOpen measures Open + Close (manifest, SHA-256 of every file,
// graph checks, four sessions) of the fixture and the full-size export.
func BenchmarkOpen(b *testing.B) {
	rt := newTestRuntime(b)
	for _, c := range []struct{ name, dir string }{
		{"fixture", fixtureDirOrEmpty(b)},
		{"full", filepath.Join(testutil.RepoRoot(b), "third_party", "models", "sam2.1_hiera_t_random_full")},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := os.Stat(filepath.Join(c.dir, manifestName)); c.dir == "" || err != nil {
				b.Skipf("no %s model", c.name)
			}
			loop(b, func() error {
				m, err := Open(rt, c.dir, Options{Provider: ProviderCPU, Threads: 2, Logger: quiet})
				if err != nil {
					return err
				}
				return m.Close()
			})
		})
	}
}
