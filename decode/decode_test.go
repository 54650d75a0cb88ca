package decode_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

func TestDecodeMatchesFFmpegCLI(t *testing.T) {
	path := testutil.Clip(t, "moving_shape")
	d, err := decode.Open(context.Background(), path, decode.Options{ModelSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info := d.Info()
	want := decode.Info{Width: 320, Height: 240, FPS: 30, Duration: info.Duration, Codec: "h264", Frames: 64}
	if info != want {
		t.Errorf("Info = %+v, want %+v", info, want)
	}
	if info.Duration < 2100*time.Millisecond || info.Duration > 2200*time.Millisecond {
		t.Errorf("Duration = %v, want about 64/30 s", info.Duration)
	}
	frames, err := readAll(t, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 64 {
		t.Fatalf("decoded %d frames, want 64", len(frames))
	}
	src := ffmpegRaw(t, "-i", path)
	model := ffmpegRaw(t, "-i", path, "-vf", "scale=64:64:flags=bicubic")
	const fs, ms = 320 * 240 * 3, 64 * 64 * 3
	for i, f := range frames {
		if f.Index != i || f.Width != 320 || f.Height != 240 {
			t.Fatalf("frame %d: Index %d size %dx%d", i, f.Index, f.Width, f.Height)
		}
		if wantPTS := time.Duration(i) * time.Second / 30; (f.PTS - wantPTS).Abs() > time.Millisecond {
			t.Errorf("frame %d: PTS %v, want %v", i, f.PTS, wantPTS)
		}
		if !bytes.Equal(f.RGB, src[i*fs:(i+1)*fs]) {
			t.Errorf("frame %d: RGB differs from ffmpeg -pix_fmt rgb24", i)
		}
		if !bytes.Equal(f.Model, model[i*ms:(i+1)*ms]) {
			t.Errorf("frame %d: Model differs from ffmpeg scale=64:64:flags=bicubic", i)
		}
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF again", err)
	}
}

// The real 1280x720 samples: identical to the CLI too (BT.709 tagged, B-frames).
func TestDecodeSampleMatchesFFmpegCLI(t *testing.T) {
	path := testutil.SharedVideo(t, "01_dog.mp4")
	d, err := decode.Open(context.Background(), path, decode.Options{ModelSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if info := d.Info(); info.Width != 1280 || info.Height != 720 || info.Frames != 289 {
		t.Errorf("Info = %+v", info)
	}
	const n = 3
	src := ffmpegRaw(t, "-i", path, "-frames:v", "3")
	model := ffmpegRaw(t, "-i", path, "-frames:v", "3", "-vf", "scale=1024:1024:flags=bicubic")
	const fs, ms = 1280 * 720 * 3, 1024 * 1024 * 3
	for i := 0; i < n; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.RGB, src[i*fs:(i+1)*fs]) {
			t.Errorf("frame %d: RGB differs from the ffmpeg CLI", i)
		}
		if !bytes.Equal(f.Model, model[i*ms:(i+1)*ms]) {
			t.Errorf("frame %d: Model differs from the ffmpeg CLI (bicubic 1024)", i)
		}
	}
}

func TestSeek(t *testing.T) {
	path := testutil.Clip(t, "crossing")
	d, err := decode.Open(context.Background(), path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	all, err := readAll(t, d)
	if err != nil || len(all) != 64 {
		t.Fatalf("read %d frames, err %v", len(all), err)
	}
	ctx := context.Background()
	for _, idx := range []int{40, 3, 0, 63, 32, 31} { // inside a GOP, keyframes, both ends
		if err := d.Seek(ctx, idx); err != nil {
			t.Fatalf("Seek(%d): %v", idx, err)
		}
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("Next after Seek(%d): %v", idx, err)
		}
		if f.Index != idx || f.PTS != all[idx].PTS || !bytes.Equal(f.RGB, all[idx].RGB) {
			t.Errorf("after Seek(%d): got Index %d PTS %v (want %v), same pixels %v",
				idx, f.Index, f.PTS, all[idx].PTS, bytes.Equal(f.RGB, all[idx].RGB))
		}
	}
	// After seeking to 60 the rest of the file follows, then EOF.
	if err := d.Seek(ctx, 60); err != nil {
		t.Fatal(err)
	}
	rest, err := readAll(t, d)
	if err != nil || len(rest) != 4 || rest[3].Index != 63 {
		t.Errorf("after Seek(60): %d frames, err %v", len(rest), err)
	}
	for _, bad := range []int{-1, 64, 1000} {
		if err := d.Seek(ctx, bad); !errors.Is(err, decode.ErrNotSeekable) {
			t.Errorf("Seek(%d) = %v, want ErrNotSeekable", bad, err)
		}
	}
}

func TestLoop(t *testing.T) {
	path := testutil.Clip(t, "fast_motion")
	d, err := decode.Open(context.Background(), path, decode.Options{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var first [64][]byte
	prev := time.Duration(-1)
	for i := 0; i < 64*3+5; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Index != i {
			t.Fatalf("frame %d has Index %d", i, f.Index)
		}
		if f.PTS <= prev {
			t.Fatalf("frame %d: PTS %v not after %v", i, f.PTS, prev)
		}
		if want := time.Duration(i) * time.Second / 30; (f.PTS - want).Abs() > time.Millisecond {
			t.Errorf("frame %d: PTS %v, want %v", i, f.PTS, want)
		}
		prev = f.PTS
		if i < 64 {
			first[i] = f.RGB
		} else if !bytes.Equal(f.RGB, first[i%64]) {
			t.Fatalf("looped frame %d differs from frame %d", i, i%64)
		}
	}
}

func TestRealtimePacing(t *testing.T) {
	d, err := decode.Open(context.Background(), testutil.Clip(t, "occlusion"), decode.Options{Realtime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	for i := 0; i < 10; i++ {
		if _, err := d.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 10 frames at 30 fps span 9/30 s; without pacing they decode in a few ms.
	if el := time.Since(start); el < 290*time.Millisecond {
		t.Errorf("10 paced frames took %v, want >= 300ms", el)
	}
	// Cancellation interrupts the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with canceled ctx = %v", err)
	}
}

func TestFrameRelease(t *testing.T) {
	d, err := decode.Open(context.Background(), testutil.Clip(t, "moving_shape"), decode.Options{ModelSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f1, _ := d.Next(context.Background())
	keep := bytes.Clone(f1.RGB)
	f2, _ := d.Next(context.Background())
	if !bytes.Equal(f1.RGB, keep) {
		t.Fatal("a later Next changed an earlier frame's pixels")
	}
	f1.Release()
	f1.Release() // harmless
	if f1.RGB != nil || f1.Model != nil {
		t.Error("Release left buffers on the frame")
	}
	f3, err := d.Next(context.Background())
	if err != nil || f3.Index != 2 || len(f3.RGB) != 320*240*3 || len(f3.Model) != 32*32*3 {
		t.Fatalf("after Release: %+v %v", f3, err)
	}
	f2.Release()
	d.Close()
	if _, err := d.Next(context.Background()); !errors.Is(err, decode.ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
}
