package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyHistory holds an edit session's undo and redo history beside its
// "info", as its owner's JSON (package session's EditHistory).
var keyHistory = []byte("history")

// PutHistory stores (replaces) an edit session's undo and redo history,
// durably on return.
func (s *Store) PutHistory(id string, h json.RawMessage) error {
	if !json.Valid(h) {
		return fmt.Errorf("store: session %s: history is not JSON", id)
	}
	return s.update(id, func(b *bolt.Bucket, _ *Info) error {
		return b.Put(keyHistory, h)
	})
}

// History returns an edit session's stored history; ok is false when
// none was stored.
func (s *Store) History(id string) (h json.RawMessage, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		if v := b.Get(keyHistory); v != nil {
			h, ok = append(json.RawMessage(nil), v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: history: %w", err)
	}
	return h, ok, nil
}
