package tracker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/prompt"
)

// A click's answer carries the decoder's 4 candidates; a Candidate prompt
// makes another one the frame's output, and that is what tracking encodes
// into memory and conditions on.
func TestCandidatePickConditionsMemory(t *testing.T) {
	m := openSmall(t)
	frames := readFramesAt(t, testutil.Clip(t, "moving_shape"), 2, m.Manifest().ImageSize)
	cfg := FilePreset(SAM2)
	cfg.KeepAll, cfg.NumFrames, cfg.Source, cfg.FeatureCache = true, len(frames), frames, 2
	tr, err := New(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := tr.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 1, Points: []prompt.Point{{X: 160, Y: 120, Positive: true}}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Objects[0]
	if len(r.Candidates) != 4 {
		t.Fatalf("a click's answer has %d candidates, want 4", len(r.Candidates))
	}
	pick := 1
	if r.Candidate == 1 {
		pick = 2
	}
	res, err = tr.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 1, Candidate: &pick})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Objects[0]; got.Candidate != pick || got.IoU != r.Candidates[pick].IoU || len(got.Candidates) != 4 {
		t.Fatalf("after picking %d: candidate %d, IoU %g (want %g), %d candidates", pick, got.Candidate, got.IoU, r.Candidates[pick].IoU, len(got.Candidates))
	}
	want := slices.Clone(tr.object(1).temp[0].entry.Logits)
	if err := tr.Propagate(ctx, PropagateOptions{Start: 0}, func(*FrameResult) error { return nil }); err != nil {
		t.Fatal(err)
	}
	e, ok := tr.object(1).bank.Get(0)
	if !ok || !e.Conditioning || e.Candidate != pick || !slices.Equal(e.Logits, want) || e.Feat == nil {
		t.Fatalf("frame 0 in memory: ok %v cond %v candidate %d (want %d), logits the pick's %v, memory encoded %v", ok, ok && e.Conditioning, e.Candidate, pick, ok && slices.Equal(e.Logits, want), ok && e.Feat != nil)
	}
	// Only the last click's candidates are kept, on its frame.
	if _, err := tr.Prompt(ctx, prompt.Prompt{Frame: 1, Object: 1, Candidate: &pick}); !errors.Is(err, ErrEmptyPrompt) {
		t.Errorf("a pick on a frame without a click: %v, want ErrEmptyPrompt", err)
	}
	bad := 4
	if _, err := tr.Prompt(ctx, prompt.Prompt{Frame: 0, Object: 1, Candidate: &bad}); err == nil {
		t.Error("candidate 4 accepted")
	}
}
