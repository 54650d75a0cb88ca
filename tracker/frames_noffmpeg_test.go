//go:build noffmpeg

package tracker

import (
	"os"
	"testing"
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
