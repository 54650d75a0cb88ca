// Package testutil holds what the tests of several packages share: where
// the repository and its sample videos are, and a WebRTC viewer.
package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

const modulePath = "github.com/vidseg/vidseg"

// RepoRoot returns the module root: the first directory at or above the
// test's working directory (its package directory) whose go.mod declares
// this module. It does not depend on where the source was compiled.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+modulePath+"\n")) {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("repository root: no go.mod of %s at or above %s", modulePath, dir)
		}
	}
}

// SharedVideo returns the path of a sample clip in ../shared/videos beside
// the repository, and skips the test when it is absent: the clips are too
// big for the repository and are never copied into it.
func SharedVideo(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", "videos", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared clip %s absent (%v): tests look for ../shared/videos beside the repository", name, err)
	}
	return p
}

// Clip returns the path of a generated clip committed under
// testdata/videos (tools/genvideos writes them).
func Clip(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "testdata", "videos", name, "video.mp4")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("generated clip %s missing (go run ./tools/genvideos -out testdata/videos): %v", name, err)
	}
	return p
}
