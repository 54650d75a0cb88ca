// Command benchpair runs `vidseg bench` on a baseline model package and on
// one or more candidates, alternately and each in its own process (so that
// every peak RSS is its own), and prints the baseline's time per tracked
// frame over each candidate's: the side-by-side of issue 26 (EdgeTAM
// against the SAM 2.1-tiny default) in one run.
//
//	benchpair --baseline DIR --model DIR [--candidate 'ARGS'...] [--rounds 2] [-- vidseg bench flags]
//
// Each --candidate is extra `vidseg bench` arguments for --model (default:
// one candidate with none; e.g. --candidate "" --candidate '--attention bf16').
// Everything after "--" goes to every run (default: --objects 1,4 --warmup 7
// --frames 6 --threads 2 --provider cpu). The load average is printed before
// and after each round: compare rounds at the same load.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vidseg/vidseg/internal/bench"
)

type candidates []string

func (c *candidates) String() string     { return strings.Join(*c, "; ") }
func (c *candidates) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchpair:", err)
		os.Exit(1)
	}
}

// result is one `vidseg bench` run: who ran, in which round, its report.
type result struct {
	Round  int          `json:"round"`
	Label  string       `json:"label"`
	Load   [2]string    `json:"load_average"` // before, after
	Report bench.Report `json:"report"`
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("benchpair", flag.ContinueOnError)
	baseline := fs.String("baseline", "", "baseline model package (e.g. the full-size SAM 2.1-tiny export)")
	model := fs.String("model", "", "candidate model package (e.g. the full-size EdgeTAM export)")
	input := fs.String("input", filepath.Join("..", "shared", "videos", "01_dog.mp4"), "clip to track")
	rounds := fs.Int("rounds", 2, "alternations")
	binary := fs.String("vidseg", "", "vidseg binary (default: go build ./cmd/vidseg into a temporary folder)")
	asJSON := fs.Bool("json", false, "print every run's report as JSON after the table")
	var cands candidates
	fs.Var(&cands, "candidate", "extra `vidseg bench` ARGS for --model (repeatable; default one run without)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *baseline == "" || *model == "" {
		return fmt.Errorf("--baseline and --model are both needed")
	}
	common := fs.Args()
	if len(common) == 0 {
		common = []string{"--objects", "1,4", "--warmup", "7", "--frames", "6", "--threads", "2", "--provider", "cpu"}
	}
	if len(cands) == 0 {
		cands = candidates{""}
	}
	if *binary == "" {
		dir, err := os.MkdirTemp("", "benchpair")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, "vidseg")
		build := exec.Command("go", "build", "-o", *binary, "./cmd/vidseg")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build vidseg: %w", err)
		}
	}
	type job struct{ label, model, extra string }
	jobs := []job{{"baseline", *baseline, ""}}
	for i, c := range cands {
		jobs = append(jobs, job{fmt.Sprintf("candidate %d", i+1), *model, c})
	}
	results := []result{}
	// A failed run ends the comparison; the runs already measured are
	// still printed as JSON when asked (minutes of measurement each).
	printJSON := func() error {
		if !*asJSON {
			return nil
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for r := 1; r <= *rounds; r++ {
		for _, j := range jobs {
			cmd := []string{"bench", *input, "--model", j.model, "--json"}
			cmd = append(cmd, strings.Fields(j.extra)...)
			cmd = append(cmd, common...)
			before := loadAverage()
			rep, err := benchOnce(*binary, cmd)
			if err != nil {
				return errors.Join(fmt.Errorf("round %d, %s: %w", r, j.label, err), printJSON())
			}
			results = append(results, result{Round: r, Label: j.label + describe(j.model, j.extra), Load: [2]string{before, loadAverage()}, Report: rep})
		}
		printRound(out, results[len(results)-len(jobs):])
	}
	return printJSON()
}

func describe(model, extra string) string {
	s := " (" + filepath.Base(model)
	if extra != "" {
		s += " " + extra
	}
	return s + ")"
}

func benchOnce(binary string, args []string) (bench.Report, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return bench.Report{}, fmt.Errorf("vidseg %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return bench.Report{}, fmt.Errorf("vidseg %s: reading its JSON: %w", strings.Join(args, " "), err)
	}
	return rep, nil
}

// printRound prints one round: each run's ms per tracked frame by object
// count, and the baseline's over each candidate's.
func printRound(w io.Writer, rs []result) {
	base := rs[0].Report
	fmt.Fprintf(w, "round %d\n", rs[0].Round)
	for _, r := range rs {
		fmt.Fprintf(w, "  %-48s load %s -> %s\n", r.Label, r.Load[0], r.Load[1])
		for _, run := range r.Report.Runs {
			ms := 1000 * run.Seconds / float64(max(run.Frames, 1))
			line := fmt.Sprintf("    %d object(s): %7.0f ms/frame  encoder %5.0f  memory attention %5.0f  peak RSS %4.0f MB",
				run.Objects, ms, run.MsPerFrm["encoder"], run.MsPerFrm["memory_attention"], run.PeakRSSMB)
			if r.Label != rs[0].Label {
				for _, b := range base.Runs {
					if b.Objects == run.Objects && run.Seconds > 0 {
						bms := 1000 * b.Seconds / float64(max(b.Frames, 1))
						line += fmt.Sprintf("  %.2fx faster than the baseline", bms/ms)
					}
				}
			}
			fmt.Fprintln(w, line)
		}
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
