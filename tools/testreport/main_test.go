package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	stream := `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestSlow"}
{"Action":"output","Package":"a","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"pass","Package":"a","Test":"TestSlow","Elapsed":7.5}
{"Action":"pass","Package":"a","Test":"TestSlow/sub","Elapsed":7}
{"Action":"pass","Package":"a","Test":"TestFast","Elapsed":0.1}
{"Action":"output","Package":"a","Output":"ok  \ta\t7.9s\n"}
{"Action":"pass","Package":"a","Elapsed":7.9}
{"Action":"start","Package":"b"}
{"Action":"fail","Package":"b","Test":"TestBroken","Elapsed":1}
{"Action":"fail","Package":"b","Elapsed":1.2}
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
	for _, want := range []string{"=== RUN   TestSlow\n", "ok  \ta\t7.9s\n", "7.9s  pass  a\n", "1.2s  fail  b\n", "7.5s  pass  a TestSlow\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "TestFast") || strings.Contains(s, "TestSlow/sub") {
		t.Errorf("report lists more than the slowest top-level test:\n%s", s)
	}

	// A package that started and never finished (killed) is a failure.
	ok, err = report(strings.NewReader(`{"Action":"start","Package":"c"}`+"\n"), io.Discard, io.Discard, 5)
	if err != nil || ok {
		t.Errorf("unfinished package: ok=%v err=%v, want a failure", ok, err)
	}
}
