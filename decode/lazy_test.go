package decode_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// With LazyModel a frame's model copy is made only when LoadModel asks,
// from the picture the decoder kept (the same bytes as the eager copy and
// the ffmpeg CLI), also after the decoder is closed; a dropped copy is never
// made.
func TestLazyModelMatchesFFmpegCLI(t *testing.T) {
	path := testutil.Clip(t, "moving_shape")
	d, err := decode.Open(context.Background(), path, decode.Options{ModelSize: 64, LazyModel: true})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := readAll(t, d)
	if err != nil {
		t.Fatal(err)
	}
	model := ffmpegRaw(t, "-i", path, "-vf", "scale=64:64:flags=bicubic")
	const ms = 64 * 64 * 3
	if len(frames) != 64 || len(model) != 64*ms {
		t.Fatalf("decoded %d frames, ffmpeg %d bytes", len(frames), len(model))
	}
	if n := d.DeferredModelCopies(); n != 64 {
		t.Errorf("%d pictures held for model copies, want 64", n)
	}
	for i, f := range frames {
		if f.Model != nil {
			t.Fatalf("frame %d: Model made before LoadModel", i)
		}
		switch {
		case i >= 60: // loaded after Close below
		case i%3 == 0:
			f.DropModel()
			if err := f.LoadModel(); err == nil || f.Model != nil {
				t.Errorf("frame %d: LoadModel after DropModel = %v, Model %d bytes; want an error and none", i, err, len(f.Model))
			}
		default:
			if err := f.LoadModel(); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !bytes.Equal(f.Model, model[i*ms:(i+1)*ms]) {
				t.Errorf("frame %d: lazy Model differs from ffmpeg scale=64:64:flags=bicubic", i)
			}
			if err := f.LoadModel(); err != nil { // a second call keeps the copy
				t.Errorf("frame %d: second LoadModel: %v", i, err)
			}
		}
	}
	if n := d.DeferredModelCopies(); n != 4 {
		t.Errorf("%d pictures held after loading or dropping 60 copies, want 4", n)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 60; i < 64; i++ {
		if err := frames[i].LoadModel(); err != nil {
			t.Fatalf("frame %d after Close: %v", i, err)
		}
		if !bytes.Equal(frames[i].Model, model[i*ms:(i+1)*ms]) {
			t.Errorf("frame %d: Model made after Close differs from ffmpeg", i)
		}
		frames[i].Release()
	}
	if n := d.DeferredModelCopies(); n != 0 {
		t.Errorf("%d pictures still held, want 0", n)
	}
}
