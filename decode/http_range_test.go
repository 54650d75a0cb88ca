package decode_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// serveWhole answers every request with the whole file and status 200,
// ignoring Range, as some static servers and CDNs do.
func serveWhole(t *testing.T, data []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An MP4 whose index (moov) follows the media data cannot be read from a
// server that ignores Range: say so, not "unreachable".
func TestHTTPNoRangeIndexAtEnd(t *testing.T) {
	// Big enough (about 700 KB) that FFmpeg cannot skip back within its buffer.
	path := filepath.Join(t.TempDir(), "moov_at_end.mp4")
	testutil.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-frames:v", "30",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", path) // no faststart: moov last
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if moov, mdat := strings.Index(string(data), "moov"), strings.Index(string(data), "mdat"); moov < mdat {
		t.Fatalf("test file has moov at %d before mdat at %d", moov, mdat)
	}
	srv := serveWhole(t, data)
	d, err := decode.Open(context.Background(), srv.URL+"/v.mp4", decode.Options{Timeout: 5 * time.Second})
	if err == nil {
		// Some FFmpeg versions open it and fail on the first frame.
		_, err = d.Next(context.Background())
		d.Close()
	}
	if err == nil || errors.Is(err, decode.ErrUnreachable) ||
		!strings.Contains(err.Error(), "the server does not support seeking and the file's index is at its end") {
		t.Fatalf("error %v, want one saying the server cannot seek and the index is at the end", err)
	}
	if !errors.Is(err, decode.ErrNotSeekable) {
		t.Errorf("error %v does not wrap ErrNotSeekable", err)
	}
	t.Log(err)

	// The same file with its index first plays from the same server.
	fast := filepath.Join(t.TempDir(), "faststart.mp4")
	testutil.FFmpeg(t, "-i", path, "-c", "copy", "-movflags", "+faststart", fast)
	if data, err = os.ReadFile(fast); err != nil {
		t.Fatal(err)
	}
	srv = serveWhole(t, data)
	d, err = decode.Open(context.Background(), srv.URL+"/v.mp4", decode.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frames, err := readAll(t, d)
	if err != nil || len(frames) != 30 {
		t.Fatalf("faststart over a Range-less server: %d frames, %v; want 30", len(frames), err)
	}
}

// A body that stalls part-way: every frame whose data arrived is
// delivered, then an error that says the source stopped answering.
func TestHTTPStallAfterFrames(t *testing.T) {
	data, err := os.ReadFile(testutil.Clip(t, "occlusion")) // faststart: index first
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", itoa(len(data)))
		_, _ = w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select { // then nothing more until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	d, err := decode.Open(context.Background(), srv.URL+"/v.mp4", decode.Options{Timeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frames, stallErr := readAll(t, d)
	if !errors.Is(stallErr, decode.ErrUnreachable) || !strings.Contains(stallErr.Error(), "no data within") {
		t.Errorf("after the stall: %v, want ErrUnreachable saying no data came", stallErr)
	}
	// Every frame the same half file gives when read locally.
	half := filepath.Join(t.TempDir(), "half.mp4")
	if err := os.WriteFile(half, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	local, err := decode.Open(context.Background(), half, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := readAll(t, local) // ends with ErrTruncated
	local.Close()
	if len(frames) != len(want) || len(want) < 10 {
		t.Errorf("got %d frames before the stall, want the %d whose data arrived", len(frames), len(want))
	}
	for i, f := range frames {
		if f.Index != i {
			t.Fatalf("frame %d has Index %d", i, f.Index)
		}
	}
	t.Logf("%d frames, then: %v", len(frames), stallErr)
}

func itoa(n int) string { return strconv.Itoa(n) }
