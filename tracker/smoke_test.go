package tracker

import (
	"context"
	"testing"
	"time"
)

func TestSmokeTrack(t *testing.T) {
	m := openFixture(t)
	frames := readFrames(t, sharedVideo(t, "bedroom.mp4"), 4)
	tr, err := New(m, Config{Mode: SAM2, KeepAll: true, NumFrames: len(frames), Source: frames})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	res, err := tr.Prompt(ctx, Prompt{Frame: 0, Object: 1, Points: []Point{{X: 210, Y: 350, Positive: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prompt: %+v in %v", res.Objects[0].Box, time.Since(start))
	err = tr.Propagate(ctx, PropagateOptions{Start: -1}, func(r *FrameResult) error {
		o := r.Objects[0]
		t.Logf("frame %d: score %.3f iou %.3f cand %d box %+v", r.Frame, o.ObjectScore, o.IoU, o.Candidate, o.Box)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v go %v", tr.Stats(), tr.Stats().GoWork())
}
