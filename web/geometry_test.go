package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// A phone-style clip (display matrix a quarter turn) of odd size and
// variable frame rate streams upright: the session and every DataChannel
// message give the displayed 241x321, and ptsMs is the source timestamp.
func TestSessionRotatedOddVFR(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	dir := t.TempDir()
	coded := filepath.Join(dir, "coded.mp4")
	clip := filepath.Join(dir, "phone.mp4")
	for _, args := range [][]string{
		{"-i", testutil.Clip(t, "moving_shape"), "-frames:v", "8", "-vf", "scale=321:241,setpts='if(eq(N,0),0,0.2+N*0.05)/TB'",
			"-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv444p", coded},
		// FFmpeg 5 writes the rotate tag only when copying.
		{"-i", coded, "-c", "copy", "-metadata:s:v", "rotate=90", clip},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	d, err := decode.Open(context.Background(), clip, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pts []time.Duration
	for {
		f, err := d.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, f.PTS)
	}
	d.Close()

	_, hs := newServer(t, Config{Sources: SourcePolicy{MediaRoot: filepath.Dir(clip)}})
	s := createSession(t, hs.URL, clip)
	if s.Width != 241 || s.Height != 321 {
		t.Errorf("session is %dx%d, want the displayed 241x321", s.Width, s.Height)
	}
	v := watch(t, hs.URL, s.ID)
	msgs := v.WaitMessages(t, 4, 15*time.Second)
	for _, raw := range msgs {
		var m struct {
			Frame         int
			PTSms         float64 `json:"ptsMs"`
			Width, Height int
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Width != 241 || m.Height != 321 {
			t.Errorf("frame %d message says %dx%d, want 241x321", m.Frame, m.Width, m.Height)
		}
		if m.Frame < len(pts) {
			if want := float64(pts[m.Frame]) / float64(time.Millisecond); m.PTSms < want-1 || m.PTSms > want+1 {
				t.Errorf("frame %d ptsMs %.1f, source %.1f", m.Frame, m.PTSms, want)
			}
		}
	}
}
