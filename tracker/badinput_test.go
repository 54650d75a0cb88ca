package tracker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
)

// Bad prompts get clear errors, and the tracker keeps working afterwards.
func TestBadInputKeepsStateUsable(t *testing.T) {
	m := openSmall(t)
	frames := readFramesAt(t, testutil.Clip(t, "moving_shape"), 3, m.Manifest().ImageSize)
	cfg := FilePreset(SAMURAI)
	cfg.KeepAll, cfg.NumFrames, cfg.Source, cfg.FeatureCache = true, len(frames), frames, 3
	tr, err := New(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 1, Points: []prompt.Point{{X: 100, Y: 100, Positive: true}}}); err != nil {
		t.Fatal(err)
	}
	w, h := float32(frames[0].Width), float32(frames[0].Height)
	cases := []struct {
		name string
		p    prompt.Prompt
		want error
	}{
		{"point outside", prompt.Prompt{Frame: 1, Object: 1, Points: []prompt.Point{{X: w + 5, Y: 10, Positive: true}}}, ErrPromptOutside},
		{"negative coordinate", prompt.Prompt{Frame: 1, Object: 2, Points: []prompt.Point{{X: -1, Y: 10, Positive: true}}}, ErrPromptOutside},
		{"box outside", prompt.Prompt{Frame: 1, Object: 2, Box: &mask.Box{X0: 10, Y0: 10, X1: w * 2, Y1: h}}, ErrPromptOutside},
		{"inverted box", prompt.Prompt{Frame: 1, Object: 2, Box: &mask.Box{X0: 50, Y0: 50, X1: 10, Y1: 10}}, ErrPromptOutside},
		{"frame past end", prompt.Prompt{Frame: 99, Object: 1, Points: []prompt.Point{{X: 10, Y: 10, Positive: true}}}, ErrFrameRange},
		{"negative frame", prompt.Prompt{Frame: -1, Object: 1, Points: []prompt.Point{{X: 10, Y: 10, Positive: true}}}, ErrFrameRange},
		{"empty mask", prompt.Prompt{Frame: 1, Object: 3, Mask: rle(t, make([]byte, frames[0].Width*frames[0].Height), frames[0].Width, frames[0].Height)}, ErrEmptyPrompt},
		{"mask wrong size", prompt.Prompt{Frame: 1, Object: 3, Mask: rle(t, []byte{1, 1, 1}, 3, 1)}, ErrPromptOutside},
		{"nothing", prompt.Prompt{Frame: 1, Object: 3}, ErrEmptyPrompt},
	}
	for _, c := range cases {
		_, err := tr.Prompt(ctx, c.p)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
	}
	if err := tr.RemoveObject(42); !errors.Is(err, ErrUnknownObject) {
		t.Errorf("remove unknown object: got %v", err)
	}
	if got := tr.Objects(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("failed prompts changed the objects: %v", got)
	}
	// Still usable: a mask prompt adds an object, propagation covers both.
	bin := make([]byte, frames[0].Width*frames[0].Height)
	for y := 40; y < 80; y++ {
		for x := 40; x < 90; x++ {
			bin[y*frames[0].Width+x] = 1
		}
	}
	res, err := tr.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 2, Mask: rle(t, bin, frames[0].Width, frames[0].Height)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 || !res.Objects[1].Present() {
		t.Fatalf("mask prompt result %+v", res.Objects)
	}
	if b := res.Objects[1].Box; b.X0 < 38 || b.X1 > 92 || b.Y0 < 38 || b.Y1 > 82 {
		t.Errorf("mask prompt box %+v, want about (40,40)-(90,80)", b)
	}
	// The result carries one source-size mask; its RLE and box agree with it.
	o := res.Objects[1]
	dec, err := o.RLE.Decode()
	if err != nil || !slices.Equal(dec, o.Mask) || len(o.Mask) != frames[0].Width*frames[0].Height {
		t.Errorf("result RLE does not decode to its %d-byte mask: %v", len(o.Mask), err)
	}
	if r, _ := mask.BBox(o.Mask, frames[0].Width, frames[0].Height); mask.BoxOf(r) != o.Box {
		t.Errorf("result box %+v, mask's %v", o.Box, r)
	}
	n := 0
	err = tr.Propagate(ctx, PropagateOptions{Start: -1}, func(r *FrameResult) error {
		if len(r.Objects) != 2 {
			t.Errorf("frame %d: %d objects", r.Frame, len(r.Objects))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(frames) {
		t.Fatalf("propagated %d frames, want %d", n, len(frames))
	}
	// A live tracker without a source cannot reach frames it no longer has.
	live, err := New(m, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 1, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}}}); !errors.Is(err, ErrFrameNotCached) {
		t.Errorf("prompt on a live tracker before any frame: %v", err)
	}
}

func rle(t *testing.T, m []byte, w, h int) *mask.RLE {
	t.Helper()
	r, err := mask.EncodeRLE(m, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}
