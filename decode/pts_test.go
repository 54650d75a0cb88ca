package decode_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// Frame.PTS is the source's presentation time (what tracks.jsonl "pts",
// the overlay and the DataChannel's ptsMs carry): on a variable-rate clip
// it equals ffprobe's pts_time less the stream start, frame by frame.
func TestVariableFrameRatePTS(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	path := filepath.Join(t.TempDir(), "vfr.mp4")
	testutil.FFmpeg(t, "-i", testutil.Clip(t, "moving_shape"), "-frames:v", "6",
		"-vf", "setpts='if(eq(N,0),0,0.25+N*N*0.03)/TB'", "-fps_mode", "vfr", "-bf", "2", path)
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=start_time:frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var times []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.Trim(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe line %q: %v", l, err)
		}
		times = append(times, v)
	}
	// ffprobe prints the frames first, then the stream's start_time.
	start, pts := times[len(times)-1], times[:len(times)-1]
	d, err := decode.Open(context.Background(), path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frames, err := readAll(t, d)
	if err != nil || len(frames) != len(pts) || len(frames) != 6 {
		t.Fatalf("decoded %d frames (%v), ffprobe %d, want 6", len(frames), err, len(pts))
	}
	for i, f := range frames {
		want := time.Duration((pts[i] - start) * float64(time.Second))
		if (f.PTS - want).Abs() > time.Millisecond {
			t.Errorf("frame %d: PTS %v, ffprobe %v", i, f.PTS, want)
		}
	}
}
