package tracker

import (
	"context"
	"slices"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
)

// A resident model (features held by ONNX Runtime, bound into the graphs)
// tracks exactly as the plain one, with a feature cache small enough that
// a correction on an earlier frame evicts and re-encodes frames in the
// middle of a call; the tracker closes what it drops as a pass goes, and
// the rest when it is closed.
func TestResidentTracksAsPlain(t *testing.T) {
	plain := openSmall(t)
	dir := plain.Manifest().Dir
	shared.mu.Lock()
	rt := shared.rt // openSmall opened it
	shared.mu.Unlock()
	res, err := sam.Open(rt, dir, sam.Options{Provider: testutil.Provider(), Resident: sam.ResidentOn,
		Attention: testutil.Attention(), MatMul: testutil.MatMul()})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	frames := readFramesAt(t, testutil.Clip(t, "moving_shape"), 12, plain.Manifest().ImageSize)
	ctx := context.Background()
	script := func(m *sam.Model) (masks map[[2]int]ObjectResult, c sam.Counters) {
		t.Helper()
		before := m.Counters()
		held := 0 // most features held at once during the script
		cfg := FilePreset(SAM2)
		cfg.KeepAll, cfg.NumFrames, cfg.Source, cfg.FeatureCache = true, len(frames), frames, 2
		tr, err := New(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			tr.Close()
			if n := m.HeldFeatures(); n != 0 {
				t.Errorf("%d frames' features still held after the tracker closed", n)
			}
			// The cache's 2 frames and the one the current frame dropped.
			if held > 3 {
				t.Errorf("%d frames' features held at once with a 2-frame cache: dropped features are not closed as the pass goes", held)
			}
		}()
		masks = map[[2]int]ObjectResult{}
		keep := func(r *FrameResult) error {
			held = max(held, m.HeldFeatures())
			for _, o := range r.Objects {
				o.Mask = slices.Clone(o.Mask)
				masks[[2]int{r.Frame, o.Object}] = o
			}
			return nil
		}
		w, h := float32(frames[0].Width), float32(frames[0].Height)
		for _, p := range []prompt.Prompt{
			{Frame: 0, Object: 1, Points: []prompt.Point{{X: w / 3, Y: h / 2, Positive: true}}},
			{Frame: 0, Object: 2, Points: []prompt.Point{{X: 2 * w / 3, Y: h / 2, Positive: true}}},
		} {
			if _, err := tr.Prompt(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Propagate(ctx, PropagateOptions{Start: 0}, keep); err != nil {
			t.Fatal(err)
		}
		// A correction on frame 1, long evicted, then both ways from it.
		fix := prompt.Prompt{Frame: 1, Object: 1, Points: []prompt.Point{{X: w / 3, Y: h / 3, Positive: false}}}
		if r, err := tr.Prompt(ctx, fix); err != nil {
			t.Fatal(err)
		} else if err := keep(r); err != nil {
			t.Fatal(err)
		}
		if err := tr.Propagate(ctx, PropagateOptions{Start: 1}, keep); err != nil {
			t.Fatal(err)
		}
		if err := tr.Propagate(ctx, PropagateOptions{Start: 1, Reverse: true}, keep); err != nil {
			t.Fatal(err)
		}
		return masks, m.Counters().Sub(before)
	}
	want, _ := script(plain)
	got, c := script(res)
	if c.BoundRuns == 0 || c.BoundRuns != c.ImageEncoder+c.MaskDecoder+c.MemoryAttention {
		t.Errorf("%+v: the encoder, decoder and memory attention runs should all go through IO binding", c)
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d masks resident, %d plain", len(got), len(want))
	}
	for k, m := range want {
		if g := got[k]; !slices.Equal(g.Mask, m.Mask) || g.ObjectScore != m.ObjectScore || g.IoU != m.IoU || g.Candidate != m.Candidate {
			t.Errorf("frame %d object %d: the resident model's mask differs", k[0], k[1])
		}
	}
	t.Logf("%d masks equal; resident runs %+v", len(want), c)
}
