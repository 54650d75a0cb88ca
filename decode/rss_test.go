package decode_test

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// TestRSSLooping decodes 10,000 frames of a small looping clip (64x48, 48
// frames: about 200 Loop restarts, each reopening the decoder) with the model
// buffer on, and fails if RSS grows by more than 32 MB after warm-up: C-side
// leaks (frames, packets, codec contexts, swscale) show up here, not in Go's
// heap profile. Takes a few seconds.
func TestRSSLooping(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p := filepath.Join(t.TempDir(), "small.mp4")
	writeClip(t, p, 64, 48, 48)
	d, err := decode.Open(context.Background(), p, decode.Options{Loop: true, ModelSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var base int64
	const warm, total = 1000, 10000
	for i := 0; i < total; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Index != i {
			t.Fatalf("frame %d has Index %d", i, f.Index)
		}
		if i%2 == 0 {
			f.Release() // half through the pool, half left to the GC
		}
		if i == warm {
			runtime.GC()
			debug.FreeOSMemory()
			base = testutil.RSS(t)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	end := testutil.RSS(t)
	growth := end - base
	t.Logf("RSS after %d frames: %.1f MB; after %d: %.1f MB; growth %.2f MB", warm, float64(base)/1e6, total, float64(end)/1e6, float64(growth)/1e6)
	if growth > 32<<20 {
		t.Errorf("RSS grew by %.1f MB over %d frames (limit 32 MB): leak", float64(growth)/1e6, total-warm)
	}
}
