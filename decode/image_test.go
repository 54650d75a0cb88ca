package decode_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// A still image is a one-frame video: its frame count is known (a PNG's
// container says nothing, so the decoder counts) and its pixels are the
// CLI's.
func TestStillImage(t *testing.T) {
	src := testutil.Clip(t, "moving_shape")
	for _, ext := range []string{"png", "jpg"} {
		t.Run(ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "still."+ext)
			testutil.FFmpeg(t, "-i", src, "-frames:v", "1", path)
			d, err := decode.Open(context.Background(), path, decode.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if info := d.Info(); info.Frames != 1 || info.Width != 320 || info.Height != 240 || info.Live {
				t.Errorf("Info = %+v, want 1 frame of 320x240", info)
			}
			frames, err := readAll(t, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 1 {
				t.Fatalf("decoded %d frames, want 1", len(frames))
			}
			if want := ffmpegRaw(t, "-i", path); !bytes.Equal(frames[0].RGB, want) {
				t.Error("pixels differ from ffmpeg -pix_fmt rgb24")
			}
		})
	}
}
