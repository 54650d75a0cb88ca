package tracker

import (
	"context"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
)

// The memory attention, mask decoder and memory encoder run once per
// tracked frame however many objects are tracked, and the only bytes the
// model copies per added object are its memory frames gathered into the
// batch (the features, embeddings and masks are handed over in place).
func TestObjectsShareGraphRuns(t *testing.T) {
	m := openSmall(t)
	man := m.Manifest()
	if !man.Batched() {
		t.Skipf("%s is a per-object package (format %s)", man.Dir, man.Format)
	}
	frames := readFramesAt(t, testutil.Clip(t, "moving_shape"), 5, man.ImageSize)
	ctx := context.Background()
	run := func(objects int) (sam.Counters, int) {
		t.Helper()
		cfg := FilePreset(SAM2)
		cfg.NumFrames, cfg.Source = len(frames), frames
		tr, err := New(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, h := float32(frames[0].Width), float32(frames[0].Height)
		for j := range objects {
			x := w * float32(j+1) / float32(objects+1)
			p := prompt.Prompt{Frame: 0, Object: j + 1, Points: []prompt.Point{{X: x, Y: h / 2, Positive: true}}}
			if _, err := tr.Prompt(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		before := m.Counters()
		seen := 0
		err = tr.Propagate(ctx, PropagateOptions{Start: 0}, func(r *FrameResult) error {
			if len(r.Objects) != objects {
				t.Errorf("frame %d: %d objects, want %d", r.Frame, len(r.Objects), objects)
			}
			seen++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m.Counters().Sub(before), seen - 1 // frame 0 is the prompted one
	}
	one, tracked := run(1)
	four, _ := run(4)
	t.Logf("%d tracked frames: 1 object %+v; 4 objects %+v", tracked, one, four)
	for _, g := range []struct {
		name      string
		one, four int64
		want      int64
	}{
		{"memory attention", one.MemoryAttention, four.MemoryAttention, int64(tracked)},
		{"mask decoder", one.MaskDecoder, four.MaskDecoder, int64(tracked)},
		// and once for the prompted frame's memory
		{"memory encoder", one.MemoryEncoder, four.MemoryEncoder, int64(tracked + 1)},
	} {
		if g.one != g.want || g.four != g.want {
			t.Errorf("%s: %d runs with 1 object, %d with 4, over %d tracked frames; want %d each",
				g.name, g.one, g.four, tracked, g.want)
		}
	}
	// Memory frames go in as the bank keeps them, bfloat16. While the bank
	// grows (frame k has min(k, NumMaskmem) frames) each frame's memory is
	// gathered whole: that, and 64 KiB of pointers and slots, bounds it.
	memFrame := int64(2 * man.MemDim * man.FeatureSize * man.FeatureSize)
	var inMemory int64
	for k := 1; k <= tracked; k++ {
		inMemory += int64(min(k, man.NumMaskmem))
	}
	perObject := (four.CopiedBytes - one.CopiedBytes) / int64(3*tracked)
	if limit := inMemory*memFrame/int64(tracked) + 64<<10; perObject > limit {
		t.Errorf("each added object costs %d bytes copied per frame; want at most its memory frames in bfloat16 (%d frames over %d tracked frames) and 64 KiB: %d bytes",
			perObject, inMemory, tracked, limit)
	}
}
