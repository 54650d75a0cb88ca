package decode_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/video"
)

// ffmpegRaw runs the ffmpeg CLI to dump rgb24 frames, or skips if it is absent.
func ffmpegRaw(t testing.TB, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-v", "error"}, append(args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	return out.Bytes()
}

// readAll decodes every frame; it returns the frames and the error that ended the stream.
func readAll(t testing.TB, d *decode.Decoder) ([]*video.Frame, error) {
	t.Helper()
	var frames []*video.Frame
	for {
		f, err := d.Next(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) {
				return frames, nil
			}
			return frames, err
		}
		frames = append(frames, f)
		if len(frames) > 100000 {
			t.Fatal("decoder does not stop")
		}
	}
}

// writeClip encodes n synthetic frames (a moving gradient) into path.
func writeClip(t testing.TB, path string, w, h, n int) {
	t.Helper()
	fw, err := encode.Create(path, encode.Options{Width: w, Height: h, FPS: 30, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	rgb := make([]byte, w*h*3)
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				o := (y*w + x) * 3
				rgb[o], rgb[o+1], rgb[o+2] = byte(x*4+i*3), byte(y*4), byte((x+y)*2+i)
			}
		}
		if err := fw.WriteFrame(rgb); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}
