//go:build !noffmpeg

package tracker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/video"
)

// readFrames decodes the first n frames of path with 1024x1024 model input.
// With VIDSEG_FRAME_DUMP set it also writes them there, for a test binary
// built with -tags noffmpeg on a machine without FFmpeg's libraries.
func readFrames(t testing.TB, path string, n int) sliceSource {
	t.Helper()
	return readFramesAt(t, path, n, 1024)
}

// readFramesAt is readFrames for a model of another input size.
func readFramesAt(t testing.TB, path string, n, modelSize int) sliceSource {
	t.Helper()
	ctx := context.Background()
	d, err := decode.Open(ctx, path, decode.Options{ModelSize: modelSize})
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

// writeFrameDump keeps the longest dump of each video.
func writeFrameDump(dir, path string, frames []*video.Frame) error {
	if len(frames) == 0 {
		return nil
	}
	p := dumpPath(dir, path)
	if h, err := readFrameDumpHeader(p); err == nil && len(h.PTS) >= len(frames) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	h := frameDumpHeader{Width: frames[0].Width, Height: frames[0].Height, ModelSize: 1024}
	for _, f := range frames {
		h.PTS = append(h.PTS, f.PTS)
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var buf []byte
	buf = append(append(buf, hdr...), '\n')
	for _, f := range frames {
		buf = append(buf, f.Model...)
	}
	return os.WriteFile(p, buf, 0o644)
}

func readFrameDumpHeader(p string) (frameDumpHeader, error) {
	var h frameDumpHeader
	f, err := os.Open(p)
	if err != nil {
		return h, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(line, &h)
}
