package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt reports a store file that is not a readable database: cut
// short, overwritten or damaged. Open never replaces such a file silently.
var ErrCorrupt = errors.New("store is corrupt")

// CorruptError is returned by Open for a damaged file. A writable Open has
// moved the file aside to MovedTo (so the next start begins a new store and
// the damaged one is kept for inspection or recovery).
type CorruptError struct {
	Path    string
	MovedTo string // empty when the file was left in place (read-only open)
	Cause   string
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("store %s is corrupt (%s)", e.Path, e.Cause)
	if e.MovedTo != "" {
		msg += fmt.Sprintf("; moved aside to %s: the next start creates a new store, or restore a backup with `vidseg sessions restore`", e.MovedTo)
	}
	return msg
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// UnreadableError reports sessions whose records cannot be decoded. List
// returns it together with every session that could be read.
type UnreadableError struct {
	IDs   []string
	First error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("%d stored session(s) cannot be read (%s): %v", len(e.IDs), strings.Join(e.IDs, ", "), e.First)
}

func (e *UnreadableError) Unwrap() error { return ErrCorrupt }

// bbolt's meta page: a 16-byte page header, then magic, version, page size,
// flags (4 bytes each), the root bucket (16), the freelist page id (8), the
// high-water page id (8) and the transaction id (8).
const (
	boltMagic      = 0xED0CDAED
	metaOffMagic   = 16
	metaOffPgSize  = 24
	metaOffPgid    = 56
	metaOffTxid    = 64
	metaHeaderSize = 72
)

// precheck refuses what bbolt would either treat as a new database (an
// empty file) or read past the end of (a file cut short before its last
// page), before bbolt maps it.
func precheck(path string) (exists bool, cause string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return true, "", err
	}
	if st.Size() == 0 {
		return true, "the file is empty: truncated?", nil
	}
	var (
		best    uint64
		needed  int64
		anyMeta bool
	)
	// Meta pages 0 and 1; page 1 starts at the page size page 0 names, or
	// when page 0 is damaged, at the OS page size bbolt writes with (as
	// bbolt itself falls back to page 1).
	var buf [metaHeaderSize]byte
	pageSize := int64(os.Getpagesize())
	for i := 0; i < 2; i++ {
		off := int64(i) * pageSize
		if _, err := f.ReadAt(buf[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return true, "", err
		}
		if binary.LittleEndian.Uint32(buf[metaOffMagic:]) != boltMagic {
			continue
		}
		ps := int64(binary.LittleEndian.Uint32(buf[metaOffPgSize:]))
		if ps < 512 || ps > 1<<16 {
			continue
		}
		if i == 0 {
			pageSize = ps
		}
		if tx := binary.LittleEndian.Uint64(buf[metaOffTxid:]); !anyMeta || tx >= best {
			best, anyMeta = tx, true
			needed = int64(binary.LittleEndian.Uint64(buf[metaOffPgid:])) * ps
		}
	}
	if !anyMeta {
		return true, "not a vidseg store: no database header", nil
	}
	if st.Size() < needed {
		return true, fmt.Sprintf("the file is %d bytes, its header says %d: cut short", st.Size(), needed), nil
	}
	return true, "", nil
}

// openChecked opens path with bbolt and walks every page, turning bbolt's
// panics on damaged pages into a cause. The returned cause is empty for a
// sound file.
func openChecked(path string, opts *bolt.Options) (db *bolt.DB, cause string, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
				db = nil
			}
			cause, err = fmt.Sprint(r), nil
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, "", err
	}
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			// bbolt reports a page it could not walk as "panic: ...".
			problems = append(problems, strings.TrimPrefix(e.Error(), "panic: "))
		}
		return nil
	})
	if err == nil && len(problems) > 0 {
		db.Close()
		n := ""
		if len(problems) > 1 {
			n = fmt.Sprintf(" and %d more problems", len(problems)-1)
		}
		return nil, problems[0] + n, nil
	}
	if err != nil {
		db.Close()
		return nil, "", err
	}
	return db, "", nil
}

// moveAside renames a damaged store out of the way and returns its new name.
func moveAside(path string, now time.Time) (string, error) {
	dst := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102-150405"))
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.corrupt-%s-%d", path, now.UTC().Format("20060102-150405"), i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("store: move corrupt %s aside: %w", path, err)
	}
	return dst, nil
}

// Backup writes a consistent copy of the store to path (which must not
// exist), while the store stays in use.
func (s *Store) Backup(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}

// Restore replaces the store file at dst with the backup at src after
// checking the backup's integrity. The store at dst must not be open (a
// running server holds its lock: Restore fails with ErrLocked). The
// replaced file, if any, is kept as dst + ".before-restore".
func Restore(src, dst string) error {
	if _, cause, err := precheck(src); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	} else if cause != "" {
		return fmt.Errorf("store: restore: backup %s: %w (%s)", src, ErrCorrupt, cause)
	}
	b, cause, err := openChecked(src, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("store: restore: backup %s: %w", src, err)
	}
	if cause != "" {
		return fmt.Errorf("store: restore: backup %s: %w (%s)", src, ErrCorrupt, cause)
	}
	b.Close()
	if _, err := os.Stat(dst); err == nil {
		if err := notInUse(dst); err != nil {
			return fmt.Errorf("store: restore %s: %w", dst, err)
		}
		if err := os.Rename(dst, dst+".before-restore"); err != nil {
			return fmt.Errorf("store: restore: keep the current store: %w", err)
		}
	}
	if err := copyFile(src, dst); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// notInUse fails with ErrLocked while another process (a running server)
// holds the store: bbolt keeps an exclusive flock on a file open for writing.
func notInUse(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return ErrLocked
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
