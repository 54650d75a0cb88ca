package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vidseg/vidseg/prompt"
)

// The NATS message handlers read what another process published: a
// worker's events and results (the front end), a prompt request (the
// worker), a lease request (the coordinator), a previous worker's last
// result (its successor). Their fuzz targets run the corpus in
// testdata/fuzz with `go test`; a real run is
// `go test -fuzz FuzzX -fuzztime 5m ./cluster`.

// FuzzCheckEvent: the front end never panics on a stored message, and an
// event it accepts is its subject's camera's, numbered within the stream.
func FuzzCheckEvent(f *testing.F) {
	f.Add("vidseg.door.events", "door:1", []byte(`{"id":"door:1","seq":1,"camera":"door","kind":"appeared"}`), uint64(1))
	f.Add("vidseg.door.events", "door:18446744073709551615", []byte(`{"id":"door:18446744073709551615","seq":18446744073709551615,"camera":"door"}`), uint64(3))
	f.Add("vidseg.gate.events", "door:1", []byte(`{"id":"door:1","seq":1,"camera":"door"}`), uint64(1))
	f.Add("vidseg.door.events", "door:1", []byte(`{"id":"door:1","seq":-1,"camera":"door"}`), uint64(1))
	f.Add("vidseg.door.events", "", []byte(`null`), uint64(0))
	f.Fuzz(func(t *testing.T, subject, msgID string, data []byte, streamSeq uint64) {
		e, err := checkEvent(subject, msgID, data, streamSeq)
		if err != nil {
			return
		}
		if CheckName(e.Camera) != nil || subject != Subject(e.Camera, "events") || e.ID != msgID || e.Seq < 1 || e.Seq > streamSeq {
			t.Fatalf("accepted %+v on %s (msg id %q, stream seq %d)", e, subject, msgID, streamSeq)
		}
	})
}

// FuzzResultEvent: a result reaches viewers as exactly one Server-Sent
// Event of its subject's camera, whatever its bytes.
func FuzzResultEvent(f *testing.F) {
	f.Add("vidseg.door.results", []byte(`{"camera":"door","frame":3,"objects":[]}`))
	f.Add("vidseg.door.results", []byte("{\"camera\":\"door\",\n\"x\":1}\n\nevent: evil\ndata: {}"))
	f.Add("vidseg.door.results", []byte(`{"camera":"door","note":"a\nb"}`))
	f.Add("vidseg.gate.results", []byte(`{"camera":"door"}`))
	f.Add("vidseg.door.results", []byte(`{"camera":"door"} {"camera":"door"}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		frame, err := resultEvent(subject, 7, data)
		if err != nil {
			return
		}
		body, ok := bytes.CutPrefix(frame, []byte("id: 7\nevent: result\ndata: "))
		if !ok || !bytes.HasSuffix(body, []byte("\n\n")) || bytes.Count(frame, []byte("\n")) != 4 || bytes.ContainsRune(frame, '\r') {
			t.Fatalf("result %q framed as %q", data, frame)
		}
		var r struct {
			Camera string `json:"camera"`
		}
		if err := json.Unmarshal(bytes.TrimSuffix(body, []byte("\n\n")), &r); err != nil || subject != Subject(r.Camera, "results") {
			t.Fatalf("result %q on %s framed as %q (%v)", data, subject, frame, err)
		}
	})
}

// FuzzDecodePrompt: a prompt request is refused with an error or is a
// prompt within the limits.
func FuzzDecodePrompt(f *testing.F) {
	f.Add([]byte(`{"points":[{"x":10,"y":10,"positive":true}]}`))
	f.Add([]byte(`{"box":{"x0":1,"y0":2,"x1":30,"y1":40}}`))
	f.Add([]byte(`{"mask":{"size":[2,2],"counts":[1,2,1]}}`))
	f.Add([]byte(`{"mask":{"size":[2,2],"counts":[0,0,0,0,0,0,0,4]}}`))
	f.Add([]byte(`{"object":-3,"points":[{"x":1,"y":1}]}`))
	f.Add([]byte(`{"points":[{"x":1e39,"y":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePrompt(data)
		if err != nil {
			return
		}
		if p.Empty() || p.Check(0, 0) != nil {
			t.Fatalf("accepted %q as %+v", data, p)
		}
	})
}

// FuzzLastMaskPrompts: whatever its predecessor's last result holds, a
// camera's new worker replays each journaled object once or more, with
// its clicks or a mask that is a valid prompt of the frame.
func FuzzLastMaskPrompts(f *testing.F) {
	f.Add([]byte(`{"camera":"door","width":2,"height":2,"objects":[{"object":1,"present":true,"mask":{"size":[2,2],"counts":[1,2,1]}}]}`), 2, 2)
	f.Add([]byte(`{"camera":"door","width":2,"height":2,"objects":[{"object":1,"present":true,"mask":{"size":[2,2],"counts":[0,0,0,0,0,0,1,3]}}]}`), 2, 2)
	f.Add([]byte(`{"camera":"door","width":0,"height":0,"objects":[{"object":1,"present":true,"mask":{"size":[0,0],"counts":[0]}}]}`), 0, 0)
	f.Add([]byte(`{"camera":"gate","width":2,"height":2}`), 2, 2)
	f.Fuzz(func(t *testing.T, data []byte, w, h int) {
		click := prompt.Prompt{Object: 1, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}}}
		out := lastMaskPrompts("door", data, []prompt.Prompt{click, {Object: 2, Points: click.Points}}, w, h)
		seen := map[int]bool{}
		for _, p := range out {
			seen[p.Object] = true
			if p.Mask == nil {
				continue
			}
			if err := p.Check(w, h); err != nil || p.Mask.Area() == 0 {
				t.Fatalf("replayed mask of object %d for a %dx%d frame: %v", p.Object, w, h, err)
			}
		}
		if !seen[1] || !seen[2] {
			t.Fatalf("objects replayed: %v", seen)
		}
	})
}

// FuzzLeaseRequest: whatever a worker sends on its lease subjects, the
// coordinator (with a real embedded server) never changes another
// worker's lease, and a take it answers is the asker's lease.
func FuzzLeaseRequest(f *testing.F) {
	f.Add("vidseg.lease.w2.take", []byte(`{"camera":"gate"}`))
	f.Add("vidseg.lease.w2.take", []byte(`{"camera":"door"}`))
	f.Add("vidseg.lease.w2.renew", []byte(`{"camera":"door","rev":1}`))
	f.Add("vidseg.lease.w2.release", []byte(`{"camera":"door"}`))
	f.Add("vidseg.lease.w1.release", []byte(`{"camera":"door"}`)) // w1's own: allowed
	f.Add("vidseg.lease.w2.renew", []byte(`{"camera":"gate","rev":0,"since":"9999-01-01T00:00:00Z"}`))
	f.Add("vidseg.lease.w2.take", []byte(`{"camera":"$KV.x.>"}`))
	f.Add("vidseg.lease.w2.take.x", []byte(`{"camera":"gate"}`))
	f.Add("vidseg.lease..take", []byte(`{"camera":"gate"}`))
	emb, bus := startBus(f, Options{LeaseTTL: time.Hour}) // no lease expires during the run
	ctx := context.Background()
	if err := bus.PutCameras(ctx, []Camera{{Name: "door", Source: "rtsp://u:p@cam/"}, {Name: "gate"}}); err != nil {
		f.Fatal(err)
	}
	c := &Coordinator{Bus: bus, Grant: emb.SetGrants, Log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		// w1 holds door before each request.
		e, err := bus.Leases.Get(ctx, "door")
		if err != nil || !strings.Contains(string(e.Value()), `"worker":"w1"`) {
			_ = bus.Leases.Purge(ctx, "door")
			if _, err := bus.Leases.Create(ctx, "door", leaseValue("w1", time.Time{})); err != nil {
				t.Fatal(err)
			}
			if e, err = bus.Leases.Get(ctx, "door"); err != nil {
				t.Fatal(err)
			}
		}
		rep := c.answer(ctx, subject, data)
		worker, op, ok := parseLeaseSubject(subject)
		after, err := bus.Leases.Get(ctx, "door")
		switch {
		case ok && worker == "w1":
			// w1 may renew or give back its own.
		case errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && after.Revision() != e.Revision()):
			t.Fatalf("%s %q changed w1's lease of door: %v", subject, data, err)
		}
		if rep.Camera != nil {
			if !ok || op != "take" {
				t.Fatalf("%s %q answered with a camera", subject, data)
			}
			l, err := bus.Owner(ctx, rep.Camera.Name)
			if err != nil || l.Worker != worker {
				t.Fatalf("%s %q: took %s, whose lease is %+v (%v)", subject, data, rep.Camera.Name, l, err)
			}
			// Next iteration starts with gate free.
			_ = bus.Leases.Purge(ctx, rep.Camera.Name)
		}
	})
}
