package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

func TestAnalyticsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.CreateSession(Info{Source: "rtsp://cam/1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.Analytics(info.ID); ok || err != nil {
		t.Fatalf("fresh session has analytics: %v %v", ok, err)
	}
	geo := json.RawMessage(`{"zones":[{"name":"door","polygon":[{"x":1,"y":1},{"x":9,"y":1},{"x":9,"y":9}]}],"lines":[]}`)
	if err := st.PutAnalytics(info.ID, Analytics{Geometry: geo, NextSeq: 42}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutAnalytics(info.ID, Analytics{Geometry: json.RawMessage(`{"zones":`)}); err == nil {
		t.Error("invalid geometry JSON accepted")
	}
	if err := st.PutAnalytics("nope", Analytics{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	st.Close()
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, ok, err := st.Analytics(info.ID)
	if err != nil || !ok || a.NextSeq != 42 || string(a.Geometry) != string(geo) {
		t.Fatalf("after reopen: %+v %v %v", a, ok, err)
	}
}
