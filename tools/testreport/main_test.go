package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	stream := `{"Time":"2026-12-04T10:00:00Z","Action":"start","Package":"x/a"}
{"Action":"run","Package":"x/a","Test":"TestSlow"}
{"Action":"output","Package":"x/a","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"pass","Package":"x/a","Test":"TestSlow","Elapsed":7.5}
{"Action":"pass","Package":"x/a","Test":"TestSlow/sub","Elapsed":7}
{"Action":"pass","Package":"x/a","Test":"TestFast","Elapsed":0.1}
{"Action":"output","Package":"x/a","Output":"ok  \ta\t7.9s\n"}
{"Action":"pass","Package":"x/a","Elapsed":7.9}
{"Action":"start","Package":"x/b"}
{"Action":"output","Package":"x/b","Test":"TestBroken","Output":"    b_test.go:10: a log line\n"}
{"Action":"output","Package":"x/b","Test":"TestBroken","Output":"[libx264 @ 0x1] noise\n"}
{"Action":"output","Package":"x/b","Test":"TestBroken/sub","Output":"        b_test.go:12: waiting for the mask: timed out\n"}
{"Action":"output","Package":"x/b","Test":"TestBroken/sub","Output":"            page state {}\n"}
{"Action":"fail","Package":"x/b","Test":"TestBroken","Elapsed":1}
{"Time":"2026-12-04T10:01:05Z","Action":"fail","Package":"x/b","Elapsed":1.2}
`
	var out bytes.Buffer
	ok, err := report(strings.NewReader(stream), &out, io.Discard, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("a failed package reported as success")
	}
	s := out.String()
	for _, want := range []string{"=== RUN   TestSlow\n", "ok  \ta\t7.9s\n", "7.9s  pass  x/a\n", "1.2s  fail  x/b\n", "7.5s  pass  x/a TestSlow\n", "wall 1m5s"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if i := strings.Index(s, "== failed: x/b TestBroken ==\n"); i < 0 || !strings.HasSuffix(s, "== failed: x/b TestBroken ==\n    b_test.go:10: a log line\n        b_test.go:12: waiting for the mask: timed out\n            page state {}\n") {
		t.Errorf("the failing test's messages are not repeated at the end:\n%s", s)
	}
	if strings.Contains(s, "TestFast") || strings.Contains(s, "TestSlow/sub") {
		t.Errorf("report lists more than the slowest top-level test:\n%s", s)
	}

	// A package that started and never finished (killed) is a failure.
	ok, err = report(strings.NewReader(`{"Action":"start","Package":"x/c"}`+"\n"), io.Discard, io.Discard, 5)
	if err != nil || ok {
		t.Errorf("unfinished package: ok=%v err=%v, want a failure", ok, err)
	}
}
