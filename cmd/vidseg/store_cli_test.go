package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/store"
)

// Issue 24 item 7: `sessions list` on a damaged store panicked ("assertion
// failed: Page expected to be ..."); now it names the damage, and backup /
// restore bring a good copy back.
func TestSessionsCorruptStoreBackupRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.CreateSession(store.Info{Source: "/videos/kept.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	backup := filepath.Join(dir, "backup.db")
	expect(t, vidseg(t, dir, nil, "sessions", "backup", backup, "--store", path), 0, "")

	// Damage the store: every page header after the meta pages flipped.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for pg := 2; pg*4096+8 < len(b); pg++ {
		b[pg*4096+8] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := vidseg(t, dir, nil, "sessions", "list", "--store", path)
	expect(t, r, 1, "is corrupt")
	if strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("list of a damaged store panicked:\n%s", r.stderr)
	}

	expect(t, vidseg(t, dir, nil, "sessions", "restore", backup, "--store", path), 0, "")
	r = vidseg(t, dir, nil, "sessions", "list", "--store", path)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, info.ID) {
		t.Errorf("restored store lists:\n%s", r.stdout)
	}
	expect(t, vidseg(t, dir, nil, "sessions", "restore", filepath.Join(dir, "nothing.db"), "--store", path), 3, "nothing.db")
}
