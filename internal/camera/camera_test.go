package camera

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCamerasErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"", "no cameras"},
		{"cameras:\n  - source: rtsp://x/1\n", "camera 1: no name"},
		{"cameras:\n  - name: a\n", "camera 1 (a): no source"},
		{"cameras:\n  - name: a\n    source: /v.mp4\n  - name: a\n    source: /w.mp4\n", `name "a" used twice`},
		{"cameras:\n  - name: a\n    source: /v.mp4\n    zones:\n      - name: z\n        polygon: [[0, 0], [1, 1]]\n", "has 2 points"},
		{"cameras:\n  - name: a\n    source: /v.mp4\n    zones:\n      - name: z\n        polygon: [[0, 0], [1, 1], [0, 1]]\n        dwell: soon\n", `zone "z" dwell`},
		{"cameras:\n  - name: a\n    source: /v.mp4\n    prompts:\n      - box: [1, 2, 3]\n", "prompt 1: box has 3 numbers"},
		{"cameras:\n  - name: a\n    source: /v.mp4\n    prompts:\n      - {}\n", "prompt 1: no points or box"},
		{"cameras:\n  - name: a\n    sauce: /v.mp4\n", "field sauce not found"},
		{"cameras: [", "yaml"},
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(c.yaml), 0o644)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "ok.yaml")
	os.WriteFile(p, []byte("cameras:\n  - name: door\n    source: rtsp://cam/1\n    prompts:\n      - points: [[5, 6]]\n    lines:\n      - {name: gate, a: [0, 0], b: [10, 10]}\n"), 0o644)
	cams, err := Load(p)
	if err != nil || len(cams) != 1 || cams[0].Name != "door" {
		t.Fatalf("%+v %v", cams, err)
	}
	g, _ := cams[0].geometry()
	if len(g.Lines) != 1 || g.Lines[0].B.X != 10 {
		t.Errorf("geometry %+v", g)
	}
}
