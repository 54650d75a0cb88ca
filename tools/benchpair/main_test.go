package main

import (
	"os"
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

// A run that fails ends the comparison with its error; with --json the
// runs measured before it are still printed (here none: the first fails).
func TestRunReportsFailedBench(t *testing.T) {
	dir := t.TempDir()
	fake := dir + "/vidseg"
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'model /nowhere not found' >&2\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := run([]string{"--baseline", "a", "--model", "b", "--vidseg", fake, "--json"}, &out)
	if err == nil || !strings.Contains(err.Error(), "round 1, baseline") || !strings.Contains(err.Error(), "model /nowhere not found") {
		t.Fatalf("err = %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != "[]" {
		t.Errorf("JSON after a failed first run: %q, want []", got)
	}
}
