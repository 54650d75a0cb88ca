// Command testreport reads `go test -json` on stdin, prints go test's normal
// output as it arrives, and ends with where the time went: every package's
// wall time and the slowest tests. It exits 1 when a package or test failed
// (or the stream ended without a verdict), so `make test` stays red on failure.
// Each failing test's last messages are repeated at the end, so a log cut to
// its tail (as CI shows it) still says why.
//
//	go test -json ./... | go run ./tools/testreport -save out/test.json -top 15
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

type result struct {
	name    string
	action  string
	elapsed float64
}

func main() {
	save := flag.String("save", "", "also write the raw JSON stream to this file")
	top := flag.Int("top", 15, "how many of the slowest tests to list")
	flag.Parse()

	var raw io.Writer = io.Discard
	if *save != "" {
		f, err := os.Create(*save)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(2)
		}
		defer f.Close()
		raw = f
	}
	ok, err := report(os.Stdin, os.Stdout, raw, *top)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// report copies the test output to out and appends the timing summary. It
// returns false when anything failed.
func report(in io.Reader, out, raw io.Writer, top int) (bool, error) {
	var (
		packages    = map[string]*result{}
		tests       []result
		failed      bool
		messages    = map[string][]string{} // per top-level test: its t.Log/t.Error lines, the last few
		first, last time.Time               // of the events: wall time, also when replayed from a file
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(raw, "%s\n", line)
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// go test prints some errors (setup failures) as plain text.
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		if !e.Time.IsZero() {
			if first.IsZero() {
				first = e.Time
			}
			last = e.Time
		}
		switch e.Action {
		case "output", "build-output":
			fmt.Fprint(out, e.Output)
			if e.Test != "" && isMessage(e.Output) {
				k := e.Package + " " + topLevel(e.Test)
				m := append(messages[k], strings.TrimRight(e.Output, "\n"))
				if len(m) > keepMessages {
					m = m[len(m)-keepMessages:]
				}
				messages[k] = m
			}
		case "build-fail":
			failed = true
		case "start":
			packages[e.Package] = &result{name: e.Package, action: "run"}
		case "pass", "fail", "skip":
			if e.Action == "fail" {
				failed = true
			}
			if e.Test != "" {
				// Subtests are counted in their parent: top-level tests only.
				if !strings.Contains(e.Test, "/") {
					tests = append(tests, result{name: e.Package + " " + e.Test, action: e.Action, elapsed: e.Elapsed})
				}
				continue
			}
			p := packages[e.Package]
			if p == nil {
				p = &result{name: e.Package}
				packages[e.Package] = p
			}
			p.action, p.elapsed = e.Action, e.Elapsed
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("reading go test output: %w", err)
	}
	for _, p := range packages {
		if p.action == "run" {
			failed = true // started, never finished: killed or crashed
		}
	}

	pkgs := make([]result, 0, len(packages))
	for _, p := range packages {
		if p.elapsed > 0 || p.action == "fail" || p.action == "run" {
			pkgs = append(pkgs, *p)
		}
	}
	byTime := func(r []result) {
		sort.Slice(r, func(i, j int) bool {
			if r[i].elapsed != r[j].elapsed {
				return r[i].elapsed > r[j].elapsed
			}
			return r[i].name < r[j].name
		})
	}
	byTime(pkgs)
	byTime(tests)

	fmt.Fprintf(out, "\n== time by package (wall %s) ==\n", last.Sub(first).Round(time.Second))
	for _, p := range pkgs {
		fmt.Fprintf(out, "%8.1fs  %-4s  %s\n", p.elapsed, p.action, p.name)
	}
	fmt.Fprintf(out, "== slowest tests ==\n")
	for i, t := range tests {
		if i == top {
			break
		}
		fmt.Fprintf(out, "%8.1fs  %-4s  %s\n", t.elapsed, t.action, t.name)
	}
	// Last, so the end of the log says why.
	for _, t := range tests {
		if t.action != "fail" {
			continue
		}
		fmt.Fprintf(out, "== failed: %s ==\n", t.name)
		for _, l := range messages[t.name] {
			fmt.Fprintln(out, l)
		}
	}
	return !failed, nil
}

// keepMessages is how many of a test's last messages a failure repeats.
const keepMessages = 12

// isMessage reports whether a line of a test's output is its own (t.Log,
// t.Error, a panic) rather than what libraries print to the terminal.
func isMessage(line string) bool {
	t := strings.TrimLeft(line, " ")
	if strings.HasPrefix(t, "panic:") {
		return true
	}
	if len(line)-len(t) < 4 {
		return false
	}
	if len(line)-len(t) >= 8 {
		return true // a continuation of a multi-line message
	}
	i := strings.Index(t, "_test.go:")
	return i > 0 && !strings.Contains(t[:i], " ")
}

func topLevel(test string) string {
	if i := strings.Index(test, "/"); i >= 0 {
		return test[:i]
	}
	return test
}
