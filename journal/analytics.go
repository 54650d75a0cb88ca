package journal

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/vidseg/vidseg/events"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/store"
)

var (
	_ session.AnalyticsJournal = (*journaled)(nil)
	_ session.AnalyticsJournal = (*fileJournal)(nil)
)

// record is a session's record in the store, shared by the live and
// edit journals.
type record struct {
	st  *store.Store
	id  string
	log *slog.Logger
}

// Analytics returns the session's stored zones, lines and next event
// sequence number (session.AnalyticsJournal).
func (j *record) Analytics() (events.Geometry, uint64, bool) {
	a, ok, err := j.st.Analytics(j.id)
	if err != nil || !ok {
		if err != nil {
			j.log.Warn("serve: stored analytics not read", "session", j.id, "err", err)
		}
		return events.Geometry{}, 0, false
	}
	var g events.Geometry
	if len(a.Geometry) > 0 {
		if err := json.Unmarshal(a.Geometry, &g); err != nil {
			j.log.Warn("serve: stored zones not read", "session", j.id, "err", err)
		}
	}
	return g, a.NextSeq, true
}

// SaveAnalytics journals zones, lines and the next event sequence number.
func (j *record) SaveAnalytics(g events.Geometry, nextSeq uint64) error {
	raw, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("journal zones: %w", err)
	}
	return j.st.PutAnalytics(j.id, store.Analytics{Geometry: raw, NextSeq: nextSeq})
}
