package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// ExportFormat names the session export format: JSON Lines, the first
// line a header {"format":..., "session": Info}, then one line per object
// {"object":...}, per prompt {"prompt":...} and per frame {"frame":...}.
// Lines stream, so a long session never sits in memory whole.
const ExportFormat = "vidseg-session/1"

type exportLine struct {
	Format  string `json:"format,omitempty"`
	Session *Info  `json:"session,omitempty"`
	// Generation (header) is the session's frame generation: which
	// frames are stale (Frame.Gen below it).
	Generation uint64  `json:"generation,omitempty"`
	Object     *Object `json:"object,omitempty"`
	Prompt     *Prompt `json:"prompt,omitempty"`
	Frame      *Frame  `json:"frame,omitempty"`
	// The zones and event numbering, and an edit session's undo history,
	// when stored (opaque to the store).
	Analytics *Analytics      `json:"analytics,omitempty"`
	History   json.RawMessage `json:"history,omitempty"`
}

// Export writes a session to w in ExportFormat, from one consistent
// snapshot of the store.
func (s *Store) Export(id string, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		sess, err := readSession(b)
		if err != nil {
			return err
		}
		if err := enc.Encode(exportLine{Format: ExportFormat, Session: &sess.Info, Generation: generation(b)}); err != nil {
			return err
		}
		if v := b.Get(keyAnalytics); v != nil {
			var a Analytics
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("analytics: %w", err)
			}
			if err := enc.Encode(exportLine{Analytics: &a}); err != nil {
				return err
			}
		}
		if v := b.Get(keyHistory); v != nil {
			if err := enc.Encode(exportLine{History: v}); err != nil {
				return err
			}
		}
		for i := range sess.Objects {
			if err := enc.Encode(exportLine{Object: &sess.Objects[i]}); err != nil {
				return err
			}
		}
		for i := range sess.Prompts {
			if err := enc.Encode(exportLine{Prompt: &sess.Prompts[i]}); err != nil {
				return err
			}
		}
		return b.Bucket(bucketFrames).ForEach(func(k, v []byte) error {
			// Stored frames are already JSON: copy them without decoding.
			if _, err := bw.WriteString(`{"frame":`); err != nil {
				return err
			}
			if _, err := bw.Write(v); err != nil {
				return err
			}
			_, err := bw.WriteString("}\n")
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("store: export %s: %w", id, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: export %s: %w", id, err)
	}
	return nil
}

// Import reads a session written by Export and stores it under its own ID,
// all in one transaction: either the whole session is stored or nothing.
// It fails with ErrExists when that ID is already stored.
func (s *Store) Import(r io.Reader) (Info, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20) // a frame line holds every object's RLE
	line := 0
	next := func() (*exportLine, error) {
		for sc.Scan() {
			line++
			data := bytes.TrimSpace(sc.Bytes())
			if len(data) == 0 {
				continue
			}
			var l exportLine
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&l); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			return &l, nil
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line+1, err)
		}
		return nil, io.EOF
	}

	head, err := next()
	if errors.Is(err, io.EOF) {
		return Info{}, errors.New("store: import: empty input")
	}
	if err != nil {
		return Info{}, fmt.Errorf("store: import: %w", err)
	}
	if head.Format != ExportFormat || head.Session == nil {
		return Info{}, fmt.Errorf("store: import: line %d: not a session export (want a %q header)", line, ExportFormat)
	}
	info := *head.Session
	if err := validID(info.ID); err != nil || info.ID == "" {
		return Info{}, fmt.Errorf("store: import: bad session id %q", info.ID)
	}

	err = s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketSessions)
		if root.Bucket([]byte(info.ID)) != nil {
			return fmt.Errorf("session %s: %w", info.ID, ErrExists)
		}
		if err := createSession(root, info); err != nil {
			return err
		}
		b := root.Bucket([]byte(info.ID))
		if head.Generation > 0 {
			if err := b.Put(keyGen, uintKey(head.Generation)); err != nil {
				return err
			}
		}
		var maxSeq uint64
		for {
			l, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			switch {
			case l.Object != nil:
				err = putJSON(b.Bucket(bucketObjects), intKey(l.Object.ID), l.Object)
			case l.Prompt != nil:
				if l.Prompt.Seq == 0 {
					return fmt.Errorf("line %d: prompt without seq", line)
				}
				maxSeq = max(maxSeq, l.Prompt.Seq)
				err = putJSON(b.Bucket(bucketPrompts), uintKey(l.Prompt.Seq), l.Prompt)
			case l.Analytics != nil:
				if len(l.Analytics.Geometry) > 0 && !json.Valid(l.Analytics.Geometry) {
					return fmt.Errorf("line %d: analytics geometry is not JSON", line)
				}
				err = putJSON(b, keyAnalytics, l.Analytics)
			case l.History != nil:
				err = b.Put(keyHistory, l.History)
			case l.Frame != nil:
				if l.Frame.Index < 0 {
					return fmt.Errorf("line %d: frame index %d is negative", line, l.Frame.Index)
				}
				err = putJSON(b.Bucket(bucketFrames), intKey(l.Frame.Index), l.Frame)
			default:
				return fmt.Errorf("line %d: expected an object, prompt, frame, analytics or history", line)
			}
			if err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
		}
		// Later prompts continue the imported log.
		return b.Bucket(bucketPrompts).SetSequence(maxSeq)
	})
	if err != nil {
		return Info{}, fmt.Errorf("store: import: %w", err)
	}
	return info, nil
}
