package decode_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// wavFile is a valid one-second silent mono WAV: media, but no video.
func wavFile() []byte {
	const rate, n = 8000, 8000
	b := make([]byte, 44+n*2)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n*2))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], n*2)
	return b
}

// avs2Stream is an AVS2 elementary stream header: FFmpeg demuxes AVS2 but
// Debian's build has no AVS2 decoder (libdavs2 is not enabled).
var avs2Stream = []byte{0, 0, 1, 0xb0, 0x20, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xb3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xb3, 0, 0, 0, 0}

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		path string
		opts decode.Options
		want error
		msg  string // part of the message
	}{
		{"missing", filepath.Join(dir, "nope.mp4"), decode.Options{}, decode.ErrNotFound, "nope.mp4"},
		{"empty name", "", decode.Options{}, decode.ErrNotFound, "empty"},
		{"directory", dir, decode.Options{}, decode.ErrNotVideo, "directory"},
		{"zero bytes", write("empty.mp4", nil), decode.Options{}, decode.ErrNotVideo, "empty file"},
		{"text", write("notes.mp4", []byte(strings.Repeat("this is not a video\n", 200))), decode.Options{}, decode.ErrNotVideo, "notes.mp4"},
		{"audio only", write("tone.wav", wavFile()), decode.Options{}, decode.ErrNotVideo, "audio only"},
		{"no decoder", write("clip.avs2", avs2Stream), decode.Options{Format: "avs2"}, decode.ErrUnsupportedCodec, "avs2"},
		{"unknown format", write("x.bin", []byte{1}), decode.Options{Format: "no-such-format"}, nil, "no-such-format"},
		{"negative model size", testutil.Clip(t, "crossing"), decode.Options{ModelSize: -1}, nil, "ModelSize"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := decode.Open(context.Background(), c.path, c.opts)
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %q does not wrap %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			t.Log(err)
		})
	}
	_, err := decode.Open(context.Background(), filepath.Join(dir, "nope.mp4"), decode.Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestTruncatedFile(t *testing.T) {
	full, err := os.ReadFile(testutil.Clip(t, "moving_shape"))
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []float64{0.3, 0.6, 0.9} {
		p := filepath.Join(t.TempDir(), "cut.mp4")
		if err := os.WriteFile(p, full[:int(float64(len(full))*keep)], 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := decode.Open(context.Background(), p, decode.Options{})
		if err != nil {
			t.Fatalf("keep %.0f%%: Open: %v", keep*100, err)
		}
		frames, err := readAll(t, d)
		d.Close()
		if !errors.Is(err, decode.ErrTruncated) || !strings.Contains(err.Error(), "cut.mp4") {
			t.Errorf("keep %.0f%%: end error %v, want ErrTruncated naming the file", keep*100, err)
		}
		if len(frames) == 0 || len(frames) >= 64 {
			t.Errorf("keep %.0f%%: %d frames before the damage", keep*100, len(frames))
		}
		t.Logf("keep %.0f%%: %d frames, then %v", keep*100, len(frames), err)
	}
}

func TestUnreachableRTSP(t *testing.T) {
	start := time.Now()
	_, err := decode.Open(context.Background(), "rtsp://127.0.0.1:1/x", decode.Options{Timeout: 3 * time.Second})
	if !errors.Is(err, decode.ErrUnreachable) || !strings.Contains(err.Error(), "rtsp://127.0.0.1:1/x") {
		t.Errorf("error %v, want ErrUnreachable naming the URL", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("refused connection took %v to report", el)
	}
	t.Log(err)
}

func TestOpenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := decode.Open(ctx, testutil.Clip(t, "crossing"), decode.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with canceled ctx = %v", err)
	}
}
