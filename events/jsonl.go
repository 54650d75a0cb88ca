package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// JSONL writes events as JSON Lines, one event per line, each line written
// whole with one Write call so a crash leaves at most a partial last line.
type JSONL struct {
	mu   sync.Mutex
	w    io.Writer
	f    *os.File // when opened by OpenJSONL: synced and closed by Close
	err  error
	sync bool
}

// NewJSONL writes to w.
func NewJSONL(w io.Writer) *JSONL { return &JSONL{w: w} }

// OpenJSONL appends to the file at path (created 0644), fsyncing each event.
func OpenJSONL(path string) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("events: open %s: %w", path, err)
	}
	return &JSONL{w: f, f: f, sync: true}, nil
}

// Send writes e. The first write error is kept (see Err) and later events
// are dropped rather than written after a gap.
func (j *JSONL) Send(e Event) {
	line, err := json.Marshal(e)
	if err != nil {
		return // an Event always marshals; unreachable
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if _, err := j.w.Write(line); err != nil {
		j.err = fmt.Errorf("events: write: %w", err)
		return
	}
	if j.sync {
		if err := j.f.Sync(); err != nil {
			j.err = fmt.Errorf("events: sync: %w", err)
		}
	}
}

// Err reports the first write error.
func (j *JSONL) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Close closes a file opened by OpenJSONL.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return j.err
	}
	err := j.f.Close()
	j.f = nil
	if j.err != nil {
		return j.err
	}
	return err
}

// ReadJSONL reads an events file; a partial last line (a crash while
// writing) is ignored.
func ReadJSONL(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var out []Event
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			if n == bytes.Count(data, []byte("\n")) { // last, unterminated line
				break
			}
			return out, fmt.Errorf("events: %s line %d: %w", path, n+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
