// Package store keeps the sessions of `vidseg serve` in an embedded
// database (bbolt) so that they survive a restart.
//
// Every prompt and every finished frame is written in its own transaction,
// fsync'd before the call returns: once AddPrompt or PutFrame has returned
// nil, the write survives a crash of the process (even SIGKILL) or of the
// machine.
//
// Layout: a top-level bucket "sessions" holds one bucket per session ID,
// each with an "info" key (JSON Info) and three buckets: "objects" (object
// id -> JSON Object), "prompts" (sequence -> JSON Prompt) and "frames"
// (frame index -> JSON Frame). Integer keys are big-endian uint64 so that
// cursors walk them in numeric order.
package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrNotFound reports an unknown session or frame.
	ErrNotFound = errors.New("not found")
	// ErrExists reports an import of a session ID already stored.
	ErrExists = errors.New("already exists")
	// ErrLocked reports a store held open by another process.
	ErrLocked = errors.New("store is in use by another process")
)

var (
	bucketSessions = []byte("sessions")
	bucketObjects  = []byte("objects")
	bucketPrompts  = []byte("prompts")
	bucketFrames   = []byte("frames")
	keyInfo        = []byte("info")
	// keyGen holds a session's frame generation (big-endian uint64,
	// absent = 0): AddEditPrompt bumps it, and a frame stored in an
	// earlier generation is stale.
	keyGen = []byte("gen")
)

// Store is an open session database. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
}

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for another process to release the file
	// (default 1s). bbolt allows one writer process per file.
	LockTimeout time.Duration
	// ReadOnly opens an existing file with a shared lock (list, export).
	// It still waits for a writer such as a running server to let go.
	ReadOnly bool
}

// Open opens (creating if needed) the store at path, with default options.
func Open(path string) (*Store, error) {
	return OpenWith(path, Options{})
}

// OpenWith opens the store at path.
func OpenWith(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty path")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if !opts.ReadOnly {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("store: create directory: %w", err)
			}
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	exists, cause, err := precheck(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var db *bolt.DB
	if cause == "" {
		db, cause, err = openChecked(path, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly})
		if err != nil {
			if errors.Is(err, bolterrors.ErrTimeout) {
				return nil, fmt.Errorf("store: open %s: %w", path, ErrLocked)
			}
			if !errors.Is(err, bolterrors.ErrInvalid) && !errors.Is(err, bolterrors.ErrChecksum) && !errors.Is(err, bolterrors.ErrVersionMismatch) {
				return nil, fmt.Errorf("store: open %s: %w", path, err)
			}
			cause = err.Error()
		}
	}
	if cause != "" && exists {
		ce := &CorruptError{Path: path, Cause: cause}
		if !opts.ReadOnly {
			if ce.MovedTo, err = moveAside(path, time.Now()); err != nil {
				return nil, err
			}
		}
		return nil, ce
	}
	s := &Store{db: db, path: path, now: func() time.Time { return time.Now().UTC() }}
	if !opts.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketSessions)
			return err
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: init %s: %w", path, err)
		}
	}
	return s, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close releases the database file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Check walks every page of the file and reports the first inconsistency.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("store: check %s: %w", s.path, err)
		}
		return nil
	})
}

// NewID returns a fresh random session ID (16 hex digits).
func NewID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead on broken systems)
	return hex.EncodeToString(b[:])
}

// CreateSession stores a new session and returns its Info with ID (a new
// one when info.ID is empty) and timestamps filled in.
func (s *Store) CreateSession(info Info) (Info, error) {
	if info.ID == "" {
		info.ID = NewID()
	}
	if err := validID(info.ID); err != nil {
		return Info{}, err
	}
	now := s.now()
	info.Created, info.Updated = now, now
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketSessions)
		if root.Bucket([]byte(info.ID)) != nil {
			return fmt.Errorf("session %s: %w", info.ID, ErrExists)
		}
		return createSession(root, info)
	})
	if err != nil {
		return Info{}, fmt.Errorf("store: create session: %w", err)
	}
	return info, nil
}

func createSession(root *bolt.Bucket, info Info) error {
	b, err := root.CreateBucket([]byte(info.ID))
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketObjects, bucketPrompts, bucketFrames} {
		if _, err := b.CreateBucket(name); err != nil {
			return err
		}
	}
	return putJSON(b, keyInfo, info)
}

// UpdateInfo replaces the session's Info (ID and Created are kept), e.g.
// once the source's size is known.
func (s *Store) UpdateInfo(info Info) error {
	return s.update(info.ID, func(b *bolt.Bucket, old *Info) error {
		info.Created = old.Created
		*old = info
		return nil
	})
}

// DeleteSession removes a session and everything in it.
func (s *Store) DeleteSession(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketSessions).DeleteBucket([]byte(id))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return fmt.Errorf("session %s: %w", id, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// PutObject adds or relabels an object.
func (s *Store) PutObject(id string, o Object) error {
	return s.update(id, func(b *bolt.Bucket, _ *Info) error {
		return putJSON(b.Bucket(bucketObjects), intKey(o.ID), o)
	})
}

// RemoveObject deletes an object, its prompts and its masks on every
// stored frame, in one transaction.
func (s *Store) RemoveObject(id string, object int) error {
	return s.update(id, func(b *bolt.Bucket, _ *Info) error {
		if err := b.Bucket(bucketObjects).Delete(intKey(object)); err != nil {
			return err
		}
		prompts := b.Bucket(bucketPrompts)
		var drop [][]byte
		err := prompts.ForEach(func(k, v []byte) error {
			var p Prompt
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("prompt %x: %w", k, err)
			}
			if p.Object == object {
				drop = append(drop, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := prompts.Delete(k); err != nil {
				return err
			}
		}
		frames := b.Bucket(bucketFrames)
		var rewrite []Frame
		err = frames.ForEach(func(k, v []byte) error {
			var f Frame
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("frame %d: %w", keyInt(k), err)
			}
			kept := f.Objects[:0]
			for _, o := range f.Objects {
				if o.Object != object {
					kept = append(kept, o)
				}
			}
			if len(kept) != len(f.Objects) {
				f.Objects = kept
				rewrite = append(rewrite, f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range rewrite {
			if err := putJSON(frames, intKey(f.Index), f); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddPrompt appends a prompt to the session's log and returns its
// sequence number. The prompt's object is registered if new. The write is
// durable when AddPrompt returns.
func (s *Store) AddPrompt(id string, p Prompt) (uint64, error) {
	if err := checkPrompt(p); err != nil {
		return 0, err
	}
	err := s.update(id, func(b *bolt.Bucket, _ *Info) error {
		return s.addPrompt(b, &p)
	})
	if err != nil {
		return 0, err
	}
	return p.Seq, nil
}

// AddEditPrompt is an edit session's correction, in one transaction: it
// appends p as AddPrompt does, makes every stored frame stale (the next
// pass recomputes them; until then they are shown, marked) and stores f,
// the prompted frame's new result, fresh. Durable on return.
func (s *Store) AddEditPrompt(id string, p Prompt, f Frame) (uint64, error) {
	if err := checkPrompt(p); err != nil {
		return 0, err
	}
	if f.Index < 0 {
		return 0, fmt.Errorf("store: frame index %d is negative", f.Index)
	}
	err := s.update(id, func(b *bolt.Bucket, _ *Info) error {
		if err := s.addPrompt(b, &p); err != nil {
			return err
		}
		gen := generation(b) + 1
		if err := b.Put(keyGen, uintKey(gen)); err != nil {
			return err
		}
		return putFrame(b, gen, f)
	})
	if err != nil {
		return 0, err
	}
	return p.Seq, nil
}

func checkPrompt(p Prompt) error {
	if p.Frame < 0 {
		return fmt.Errorf("store: prompt frame %d is negative", p.Frame)
	}
	if p.Empty() {
		return errors.New("store: prompt has no points, box or mask")
	}
	return nil
}

// addPrompt appends p to b's log and sets its Seq.
func (s *Store) addPrompt(b *bolt.Bucket, p *Prompt) error {
	objects := b.Bucket(bucketObjects)
	if objects.Get(intKey(p.Object)) == nil {
		if err := putJSON(objects, intKey(p.Object), Object{ID: p.Object}); err != nil {
			return err
		}
	}
	prompts := b.Bucket(bucketPrompts)
	seq, err := prompts.NextSequence()
	if err != nil {
		return err
	}
	p.Seq = seq
	if p.Time.IsZero() {
		p.Time = s.now()
	}
	return putJSON(prompts, uintKey(seq), p)
}

// generation is a session's frame generation.
func generation(b *bolt.Bucket) uint64 {
	if v := b.Get(keyGen); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// putFrame stores f in generation gen.
func putFrame(b *bolt.Bucket, gen uint64, f Frame) error {
	f.Gen, f.Stale = gen, false
	return putJSON(b.Bucket(bucketFrames), intKey(f.Index), f)
}

// readFrame decodes a stored frame, marking it stale when it is from
// before generation gen.
func readFrame(v []byte, gen uint64) (*Frame, error) {
	var f Frame
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, err
	}
	f.Stale = f.Gen < gen
	return &f, nil
}

// PutFrame stores (or replaces) a finished frame, fresh. The write is
// durable when PutFrame returns.
func (s *Store) PutFrame(id string, f Frame) error {
	return s.PutFrames(id, []Frame{f})
}

// PutFrames stores several finished frames in one transaction: cheaper
// than PutFrame per frame (one fsync), durable as a whole on return.
func (s *Store) PutFrames(id string, fs []Frame) error {
	for _, f := range fs {
		if f.Index < 0 {
			return fmt.Errorf("store: frame index %d is negative", f.Index)
		}
	}
	return s.update(id, func(b *bolt.Bucket, _ *Info) error {
		gen := generation(b)
		for _, f := range fs {
			if err := putFrame(b, gen, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// Session returns a session's info, objects, prompts and frame summary.
func (s *Store) Session(id string) (*Session, error) {
	var out *Session
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		out, err = readSession(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	return out, nil
}

func readSession(b *bolt.Bucket) (*Session, error) {
	out := &Session{LastFrame: -1}
	if err := getJSON(b, keyInfo, &out.Info); err != nil {
		return nil, err
	}
	err := b.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
		var o Object
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("object %d: %w", keyInt(k), err)
		}
		out.Objects = append(out.Objects, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Keys are big-endian two's complement: negative ids sort last.
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].ID < out.Objects[j].ID })
	err = b.Bucket(bucketPrompts).ForEach(func(k, v []byte) error {
		var p Prompt
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("prompt %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out.Prompts = append(out.Prompts, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	frames := b.Bucket(bucketFrames)
	out.FrameCount = frames.Stats().KeyN
	if k, _ := frames.Cursor().Last(); k != nil {
		out.LastFrame = keyInt(k)
	}
	return out, nil
}

// List returns the Info of every session, most recently updated first.
// Sessions whose records cannot be decoded are left out and named in an
// *UnreadableError, returned together with the readable ones.
func (s *Store) List() ([]Info, error) {
	var (
		out []Info
		bad UnreadableError
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketSessions)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(k []byte) error {
			var info Info
			if err := getJSON(root.Bucket(k), keyInfo, &info); err != nil {
				bad.add(string(k), err)
				return nil
			}
			out = append(out, info)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated.After(out[j].Updated) })
	if len(bad.IDs) > 0 {
		return out, &bad
	}
	return out, nil
}

func (e *UnreadableError) add(id string, err error) {
	e.IDs = append(e.IDs, id)
	if e.First == nil {
		e.First = fmt.Errorf("session %s: %w", id, err)
	}
}

// Summary is a session's info with how much it holds.
type Summary struct {
	Info
	Objects int `json:"objects"`
	Prompts int `json:"prompts"`
	Done    int `json:"finished_frames"`
}

// Summaries lists every session as List does, with its counts. Like List,
// it returns the readable sessions with an *UnreadableError for the rest.
func (s *Store) Summaries() ([]Summary, error) {
	list, err := s.List()
	var bad *UnreadableError
	if err != nil && !errors.As(err, &bad) {
		return nil, err
	}
	if bad == nil {
		bad = &UnreadableError{}
	}
	out := make([]Summary, 0, len(list))
	for _, info := range list {
		sess, err := s.Session(info.ID)
		if err != nil {
			bad.add(info.ID, err)
			continue
		}
		out = append(out, Summary{Info: info, Objects: len(sess.Objects), Prompts: len(sess.Prompts), Done: sess.FrameCount})
	}
	if len(bad.IDs) > 0 {
		return out, bad
	}
	return out, nil
}

// Frame returns one finished frame.
func (s *Store) Frame(id string, index int) (*Frame, error) {
	var f *Frame
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		v := b.Bucket(bucketFrames).Get(intKey(index))
		if v == nil {
			return fmt.Errorf("frame %d of session %s: %w", index, id, ErrNotFound)
		}
		f, err = readFrame(v, generation(b))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: frame: %w", err)
	}
	return f, nil
}

// Frames calls fn for every finished frame in index order (stale ones
// marked). fn must not
// call other Store methods that write (it runs inside a read transaction).
func (s *Store) Frames(id string, fn func(*Frame) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return fmt.Errorf("store: frames: %w", err)
		}
		gen := generation(b)
		return b.Bucket(bucketFrames).ForEach(func(k, v []byte) error {
			f, err := readFrame(v, gen)
			if err != nil {
				return fmt.Errorf("store: frame %d: %w", keyInt(k), err)
			}
			return fn(f)
		})
	})
}

// update runs fn on the session's bucket in a write transaction and bumps
// Info.Updated (fn may also change other Info fields).
func (s *Store) update(id string, fn func(b *bolt.Bucket, info *Info) error) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		var info Info
		if err := getJSON(b, keyInfo, &info); err != nil {
			return err
		}
		if err := fn(b, &info); err != nil {
			return err
		}
		info.ID = id
		info.Updated = s.now()
		return putJSON(b, keyInfo, info)
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func sessionBucket(tx *bolt.Tx, id string) (*bolt.Bucket, error) {
	root := tx.Bucket(bucketSessions)
	if root == nil || id == "" {
		return nil, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	b := root.Bucket([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	return b, nil
}

func validID(id string) error {
	if len(id) > 128 {
		return fmt.Errorf("store: session id longer than 128 bytes")
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("store: session id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return fmt.Errorf("missing %s", key)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func uintKey(v uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], v)
	return k[:]
}

func intKey(v int) []byte { return uintKey(uint64(int64(v))) }

func keyInt(k []byte) int {
	if len(k) != 8 {
		return -1
	}
	return int(int64(binary.BigEndian.Uint64(k)))
}
