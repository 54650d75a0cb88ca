package decode_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// Without a whitelist FFmpeg's tty demuxer turns any text into video; with
// decode.VideoFormats the same file is refused as not a video.
func TestFormatWhitelistRefusesText(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notes.nfo")
	if err := os.WriteFile(p, []byte(strings.Repeat("secret text\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := decode.Open(ctx, p, decode.Options{})
	if err != nil {
		t.Fatalf("control: FFmpeg no longer opens text as video (%v); the whitelist test proves nothing", err)
	}
	d.Close()
	_, err = decode.Open(ctx, p, decode.Options{Formats: decode.VideoFormats})
	if !errors.Is(err, decode.ErrNotVideo) {
		t.Fatalf("text with the video whitelist: %v, want ErrNotVideo", err)
	}
}

// Input feeds FFmpeg from Go: the name only labels errors, frames decode,
// Seek and Loop work through the io.Seeker, and Close closes the input.
func TestInputReader(t *testing.T) {
	f, err := os.Open(testutil.Clip(t, "moving_shape"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := decode.Open(ctx, "clip.mp4", decode.Options{Input: f, Formats: decode.VideoFormats, Protocols: decode.NoProtocols})
	if err != nil {
		t.Fatal(err)
	}
	if info := d.Info(); info.Width != 320 || info.Frames == 0 {
		t.Fatalf("info %+v", info)
	}
	if err := d.Seek(ctx, 5); err != nil {
		t.Fatal(err)
	}
	fr, err := d.Next(ctx)
	if err != nil || fr.Index != 5 {
		t.Fatalf("after Seek(5): frame %v, %v", fr, err)
	}
	d.Close()
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Error("Close left the input open")
	}
	// Garbage through Input: an error that names the given name only.
	_, err = decode.Open(ctx, "upload.mp4", decode.Options{Input: strings.NewReader("not a video at all"), Formats: decode.VideoFormats})
	if !errors.Is(err, decode.ErrNotVideo) || !strings.Contains(err.Error(), "upload.mp4") {
		t.Errorf("garbage input: %v", err)
	}
}
