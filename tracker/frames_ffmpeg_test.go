//go:build !noffmpeg

package tracker

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// readFrames decodes the first n frames of path with 1024x1024 model input.
// With VIDSEG_FRAME_DUMP set it also writes them there, for a test binary
// built with -tags noffmpeg on a machine without FFmpeg's libraries.
func readFrames(t testing.TB, path string, n int) sliceSource {
	t.Helper()
	ctx := context.Background()
	d, err := decode.Open(ctx, path, decode.Options{ModelSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out sliceSource
	for len(out) < n {
		f, err := d.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if dir := os.Getenv(envFrameDump); dir != "" {
		if err := writeFrameDump(dir, path, out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestFrameDump writes the frames the model tests decode into
// VIDSEG_FRAME_DUMP (skipped without it), for a GPU machine without FFmpeg:
// tools/gpu/README.md.
func TestFrameDump(t *testing.T) {
	if os.Getenv(envFrameDump) == "" {
		t.Skipf("%s not set", envFrameDump)
	}
	for _, name := range []string{"sam2", "samurai"} {
		s, _ := loadTrace(t, name)
		readFrames(t, testutil.SharedVideo(t, s.Video), s.Frames)
	}
	readFrames(t, testutil.Clip(t, "moving_shape"), 3)
}
