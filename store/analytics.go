package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyAnalytics holds a session's Analytics beside its "info".
var keyAnalytics = []byte("analytics")

// Analytics is a session's event settings and progress: its zones and
// lines (the events package's Geometry as JSON, kept opaque here) and the
// sequence number its next event gets, so a resumed session never reuses
// an event ID.
type Analytics struct {
	Geometry json.RawMessage `json:"geometry,omitempty"`
	NextSeq  uint64          `json:"next_seq"`
}

// PutAnalytics stores (replaces) a session's analytics, durably on return.
func (s *Store) PutAnalytics(id string, a Analytics) error {
	if len(a.Geometry) > 0 && !json.Valid(a.Geometry) {
		return fmt.Errorf("store: session %s: analytics geometry is not JSON", id)
	}
	return s.update(id, func(b *bolt.Bucket, _ *Info) error {
		return putJSON(b, keyAnalytics, a)
	})
}

// Analytics returns a session's analytics; ok is false when none were stored.
func (s *Store) Analytics(id string) (a Analytics, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := sessionBucket(tx, id)
		if err != nil {
			return err
		}
		if b.Get(keyAnalytics) == nil {
			return nil
		}
		ok = true
		return getJSON(b, keyAnalytics, &a)
	})
	if err != nil {
		return Analytics{}, false, fmt.Errorf("store: analytics: %w", err)
	}
	return a, ok, nil
}
