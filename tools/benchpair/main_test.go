package main

import (
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/bench"
)

// The ratio is the baseline's time per tracked frame over the candidate's,
// matched by object count.
func TestPrintRoundRatio(t *testing.T) {
	runs := func(s1, s4 float64) bench.Report {
		return bench.Report{Runs: []bench.Run{{Objects: 1, Frames: 6, Seconds: s1}, {Objects: 4, Frames: 6, Seconds: s4}}}
	}
	var b strings.Builder
	printRound(&b, []result{
		{Round: 1, Label: "baseline", Report: runs(18, 48)},
		{Round: 1, Label: "candidate 1", Report: runs(3.6, 9.6)},
	})
	out := b.String()
	for _, want := range []string{"1 object(s):    3000 ms/frame", "1 object(s):     600 ms/frame", "5.00x faster", "4 object(s):    1600 ms/frame"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "faster") != 2 {
		t.Errorf("want a ratio on each candidate row only:\n%s", out)
	}
}

func TestRunNeedsBothModels(t *testing.T) {
	err := run([]string{"--model", "x"}, new(strings.Builder))
	if err == nil || !strings.Contains(err.Error(), "--baseline and --model") {
		t.Fatalf("err = %v", err)
	}
}
