package decode_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

func TestHTTPSource(t *testing.T) {
	path := testutil.Clip(t, "occlusion")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/occlusion.mp4" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path) // Range requests included
	}))
	defer srv.Close()

	local, err := decode.Open(context.Background(), path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := readAll(t, local)
	local.Close()
	if err != nil {
		t.Fatal(err)
	}

	d, err := decode.Open(context.Background(), srv.URL+"/occlusion.mp4", decode.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if info := d.Info(); info.Live || info.Frames != 64 || info.Width != 320 {
		t.Errorf("Info = %+v", info)
	}
	got, err := readAll(t, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("HTTP gave %d frames, file %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].RGB, want[i].RGB) {
			t.Fatalf("frame %d differs between HTTP and file", i)
		}
	}

	// 404 is reported as unreachable, naming the URL.
	_, err = decode.Open(context.Background(), srv.URL+"/missing.mp4", decode.Options{})
	if !errors.Is(err, decode.ErrUnreachable) || !strings.Contains(err.Error(), "missing.mp4") {
		t.Errorf("404: %v, want ErrUnreachable naming the URL", err)
	}
	t.Log(err)
}

// A server that accepts but never answers: Open gives up after Timeout, and
// a canceled context interrupts the blocked read at once.
func TestHTTPStalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the connection open, say nothing
		}
	}()
	url := "http://" + ln.Addr().String() + "/v.mp4"

	start := time.Now()
	_, err = decode.Open(context.Background(), url, decode.Options{Timeout: 700 * time.Millisecond})
	el := time.Since(start)
	if !errors.Is(err, decode.ErrUnreachable) || !strings.Contains(err.Error(), url) {
		t.Errorf("stalled open: %v, want ErrUnreachable naming the URL", err)
	}
	if el < 600*time.Millisecond || el > 5*time.Second {
		t.Errorf("stalled open returned after %v with Timeout 700ms", el)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	_, err = decode.Open(ctx, url, decode.Options{Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled open: %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancel took %v to interrupt the blocked open", el)
	}
}
