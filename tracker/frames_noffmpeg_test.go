//go:build noffmpeg

package tracker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/video"
)

// readFrames reads the first n frames of path from the dump in
// VIDSEG_FRAME_DUMP (this build has no FFmpeg).
func readFrames(t testing.TB, path string, n int) sliceSource {
	t.Helper()
	dir := os.Getenv(envFrameDump)
	if dir == "" {
		t.Skipf("built without FFmpeg: set %s to a folder of frame dumps", envFrameDump)
	}
	out, err := readFrameDump(dir, path, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readFramesAt is readFrames for a model of another input size: the dumps
// hold 1024-px model inputs only.
func readFramesAt(t testing.TB, path string, n, modelSize int) sliceSource {
	t.Helper()
	if modelSize != 1024 {
		t.Skipf("built without FFmpeg: frame dumps hold 1024-px inputs, the model takes %d", modelSize)
	}
	return readFrames(t, path, n)
}

// readFrameDump reads the first n frames of video's dump in dir.
func readFrameDump(dir, path string, n int) (sliceSource, error) {
	f, err := os.Open(dumpPath(dir, path))
	if err != nil {
		return nil, fmt.Errorf("frame dump of %s: %w (write it with the FFmpeg build of these tests and %s set)", filepath.Base(path), err, envFrameDump)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var h frameDumpHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, err
	}
	var out sliceSource
	for i := 0; i < min(n, len(h.PTS)); i++ {
		fr := &video.Frame{Index: i, PTS: h.PTS[i], Width: h.Width, Height: h.Height,
			RGB: make([]byte, h.Width*h.Height*3), Model: make([]byte, h.ModelSize*h.ModelSize*3)}
		if _, err := io.ReadFull(r, fr.Model); err != nil {
			return nil, fmt.Errorf("frame dump of %s, frame %d: %w", filepath.Base(path), i, err)
		}
		out = append(out, fr)
	}
	return out, nil
}
