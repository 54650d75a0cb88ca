//go:build !noffmpeg

package tracker

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/sam"
)

// TestStreamMemoryBounded tracks two objects over a looping clip as a live
// stream and checks that memory holds only what attention can still read.
// By default it runs 24 frames of the committed fixture; set
// VIDSEG_SOAK_MODEL (e.g. third_party/models/sam2.1_hiera_t_soak256 from
// tools/export/make_soak.sh) and VIDSEG_SOAK_FRAMES=2000 for the long RSS run.
func TestStreamMemoryBounded(t *testing.T) {
	frames := 24
	if v := os.Getenv("VIDSEG_SOAK_FRAMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("VIDSEG_SOAK_FRAMES=%q: %v", v, err)
		}
		frames = n
	}
	var m *sam.Model
	if dir := os.Getenv("VIDSEG_SOAK_MODEL"); dir != "" {
		m = openModel(t, dir)
	} else {
		if testing.Short() {
			t.Skip("-short: skipping the model run")
		}
		m = openSmall(t)
	}
	streamMemoryBounded(t, m, frames)
}

// TestEdgeTAMStreamMemoryBounded is TestStreamMemoryBounded on the EdgeTAM
// fixture, whose memory frames are perceiver latents: past the 4+7 frames
// attention can read, the bank stays bounded.
func TestEdgeTAMStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the model run")
	}
	streamMemoryBounded(t, openModel(t, testutil.EdgeTAMModel(t)), 12)
}

func streamMemoryBounded(t *testing.T, m *sam.Model, frames int) {
	ctx := context.Background()
	clip := testutil.Clip(t, "crossing")
	d, err := decode.Open(ctx, clip, decode.Options{ModelSize: m.Manifest().ImageSize, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr, err := New(m, StreamPreset(SAMURAI))
	if err != nil {
		t.Fatal(err)
	}
	warm := max(frames/10, 16)
	var rssWarm, rssPeak int64
	var samples []string
	start := time.Now()
	for i := 0; i < frames; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Track(ctx, f); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// Two objects, as on a camera stream, the second mid-stream.
			if _, err := tr.Prompt(ctx, prompt.Prompt{Frame: f.Index, Object: 1, Points: []prompt.Point{{X: 60, Y: 120, Positive: true}}}); err != nil {
				t.Fatal(err)
			}
		}
		if i == 5 {
			if _, err := tr.Prompt(ctx, prompt.Prompt{Frame: f.Index, Object: 2, Box: &mask.Box{X0: 200, Y0: 80, X1: 280, Y1: 160}}); err != nil {
				t.Fatal(err)
			}
		}
		for id, n := range tr.MemoryFrames() {
			// Conditioning frames (capped at 4) + 6 recent + the current.
			if n > 4+7 {
				t.Fatalf("frame %d: object %d holds %d memory frames", i, id, n)
			}
		}
		if i == warm {
			runtime.GC()
			rssWarm = testutil.RSS(t)
		}
		if i > warm {
			rss := testutil.RSS(t)
			rssPeak = max(rssPeak, rss)
			if (i+1)%max(frames/8, 1) == 0 {
				samples = append(samples, fmt.Sprintf("%d:%.0fMiB", i+1, float64(rss)/(1<<20)))
			}
		}
		f.Release()
	}
	st := tr.Stats()
	t.Logf("%d frames in %v (%.2f frames/s); RSS after warm-up (frame %d) %.1f MiB, peak after %.1f MiB; memory frames %v",
		frames, time.Since(start).Round(time.Millisecond), float64(frames)/time.Since(start).Seconds(), warm,
		float64(rssWarm)/(1<<20), float64(rssPeak)/(1<<20), tr.MemoryFrames())
	t.Logf("RSS by frame: %s", strings.Join(samples, " "))
	t.Logf("stages: encoder %v attention %v decoder %v memory encoder %v go %v", st.Encoder, st.MemoryAttention, st.Decoder, st.MemoryEncoder, st.GoWork())
	if frames >= 500 && rssPeak-rssWarm > 64<<20 {
		t.Errorf("RSS grew %.1f MiB after warm-up", float64(rssPeak-rssWarm)/(1<<20))
	}
}
