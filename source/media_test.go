package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// List gives the videos under the media root by path, leaving out other
// files, hidden ones, symlinks (also one leading outside) and what lies
// deeper than maxMediaDepth; it stops at the limit and says so.
func TestListMedia(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.mp4")
	for _, p := range []string{"a.mp4", "b/c.MKV", "b/notes.txt", ".hidden/x.mp4", "b/.y.mp4", "1/2/3/d.webm", "1/2/3/4/deep.mp4", outside} {
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "link.mp4")); err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(context.Background(), Policy{MediaRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	names := func(fs []MediaFile) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	files, more, err := r.List(10)
	if want := []string{"1/2/3/d.webm", "a.mp4", "b/c.MKV"}; err != nil || more || !slices.Equal(names(files), want) {
		t.Errorf("List: %v, more %v, %v; want %v", names(files), more, err, want)
	}
	files, more, err = r.List(2)
	if err != nil || !more || len(files) != 2 {
		t.Errorf("List(2): %v, more %v, %v; want 2 and more", names(files), more, err)
	}
	none, err := NewResolver(context.Background(), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := none.List(10); !errors.Is(err, ErrNotFound) {
		t.Errorf("List without a media root: %v, want not found", err)
	}
}
