package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// filledStore writes a store with n sessions of a few frames each and
// closes it.
func filledStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		info, err := s.CreateSession(Info{Source: fmt.Sprintf("clip%d.mp4", i)})
		if err != nil {
			t.Fatal(err)
		}
		for f := range 10 {
			if err := s.PutFrame(info.ID, sampleFrame(f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue 24 item 7: a truncated or damaged store was opened as a new empty
// one (0 bytes) or made bbolt panic ("invalid freelist page", "Page expected
// to be ..."); now Open refuses it by name and moves it aside, never
// replacing it silently.
func TestCorruptStoreRefusedAndMovedAside(t *testing.T) {
	damage := map[string]func([]byte) []byte{
		"empty":     func([]byte) []byte { return nil },
		"half":      func(b []byte) []byte { return b[:len(b)/2] },
		"one page":  func(b []byte) []byte { return b[:4096] },
		"not bbolt": func(b []byte) []byte { return []byte(strings.Repeat("not a database ", 600)) },
		"flipped page headers": func(b []byte) []byte {
			for pg := 2; pg*4096+8 < len(b); pg++ {
				b[pg*4096+8] ^= 0xff // the page's flags
			}
			return b
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			path := filledStore(t, 20)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fn(b), 0o600); err != nil {
				t.Fatal(err)
			}
			damaged, _ := os.ReadFile(path)

			// Read-only (sessions list): refused, left in place.
			_, err = OpenWith(path, Options{ReadOnly: true})
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.MovedTo != "" {
				t.Fatalf("read-only open: %v, want a CorruptError leaving the file", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			// Writable (serve): refused and moved aside, byte for byte.
			_, err = Open(path)
			if !errors.As(err, &ce) || ce.MovedTo == "" {
				t.Fatalf("open: %v, want a CorruptError with the file moved aside", err)
			}
			t.Logf("%v", err)
			kept, err := os.ReadFile(ce.MovedTo)
			if err != nil || string(kept) != string(damaged) {
				t.Fatalf("damaged store not kept as it was at %s: %v", ce.MovedTo, err)
			}
			// The next start begins a new, empty store.
			s, err := Open(path)
			if err != nil {
				t.Fatalf("open after moving aside: %v", err)
			}
			defer s.Close()
			if list, err := s.List(); err != nil || len(list) != 0 {
				t.Fatalf("new store lists %d sessions, %v", len(list), err)
			}
		})
	}
}

// One undecodable record no longer makes the whole list fail: the readable
// sessions are listed and the bad one is named.
func TestListSkipsUnreadableSession(t *testing.T) {
	s := openTemp(t)
	var ids []string
	for i := range 3 {
		info, err := s.CreateSession(Info{Source: fmt.Sprintf("clip%d.mp4", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Bucket([]byte(ids[1])).Put(keyInfo, []byte("{broken"))
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func() (int, error){
		"List":      func() (int, error) { l, err := s.List(); return len(l), err },
		"Summaries": func() (int, error) { l, err := s.Summaries(); return len(l), err },
	} {
		n, err := list()
		var ue *UnreadableError
		if n != 2 || !errors.As(err, &ue) || len(ue.IDs) != 1 || ue.IDs[0] != ids[1] {
			t.Errorf("%s: %d sessions, %v; want the 2 readable ones and %s named", name, n, err, ids[1])
		}
	}
}

func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.CreateSession(Info{Source: "kept.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := s.Backup(backup); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(backup); err == nil {
		t.Error("a backup overwrote an existing file")
	}
	if _, err := s.CreateSession(Info{Source: "later.mp4"}); err != nil {
		t.Fatal(err)
	}
	// The store in use cannot be replaced under the server.
	if err := Restore(backup, path); !errors.Is(err, ErrLocked) {
		t.Fatalf("restore over an open store: %v, want ErrLocked", err)
	}
	s.Close()
	if err := Restore(backup, path); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != info.ID {
		t.Fatalf("restored store lists %+v, %v; want only %s", list, err, info.ID)
	}
	if _, err := os.Stat(path + ".before-restore"); err != nil {
		t.Errorf("the replaced store was not kept: %v", err)
	}
	// A damaged backup is refused.
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, []byte("garbage"), 0o600)
	if err := Restore(bad, filepath.Join(dir, "other.db")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("restore from garbage: %v, want ErrCorrupt", err)
	}
}

// A damaged first meta page alone is what bbolt recovers from (meta page 1):
// the store opens with its sessions, not refused as corrupt.
func TestFirstMetaPageDamagedStillOpens(t *testing.T) {
	path := filledStore(t, 3)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 16; i < 32; i++ { // page 0's magic, version and page size
		b[i] = 0
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("open with meta page 1 intact: %v", err)
	}
	defer s.Close()
	if list, err := s.List(); err != nil || len(list) != 3 {
		t.Fatalf("listed %d sessions, %v; want 3", len(list), err)
	}
}
