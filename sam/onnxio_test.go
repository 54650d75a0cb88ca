package sam

import (
	"os"
	"path/filepath"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// graphIO must agree with ONNX Runtime's own view of every fixture graph.
func TestGraphIOMatchesRuntime(t *testing.T) {
	newTestRuntime(t)
	dir := fixtureDir(t)
	man, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range man.graphList() {
		path := filepath.Join(dir, g.file)
		in, out, err := graphIO(path)
		if err != nil {
			t.Fatalf("%s: %v", g.key, err)
		}
		wantIn, wantOut, err := ort.GetInputOutputInfo(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ got, want []ort.InputOutputInfo }{{in, wantIn}, {out, wantOut}} {
			if len(c.got) != len(c.want) {
				t.Fatalf("%s: %d values, ONNX Runtime says %d", g.key, len(c.got), len(c.want))
			}
			for i := range c.got {
				a, b := c.got[i], c.want[i]
				// ONNX Runtime may fill in output dimensions by shape
				// inference where the file leaves them symbolic.
				if a.Name != b.Name || a.DataType != b.DataType || a.OrtValueType != b.OrtValueType || !dimsAgree(a.Dimensions, b.Dimensions) {
					t.Errorf("%s: parsed %v, ONNX Runtime %v", g.key, &a, &b)
				}
			}
		}
		t.Logf("%s: %d inputs, %d outputs", g.key, len(in), len(out))
	}
}

func dimsAgree(parsed, runtime ort.Shape) bool {
	if len(parsed) != len(runtime) {
		return false
	}
	for i := range parsed {
		if parsed[i] != runtime[i] && parsed[i] != -1 {
			return false
		}
	}
	return true
}

func TestGraphIORejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.onnx")
	for _, data := range [][]byte{{}, []byte("not protobuf at all \xff\xff\xff"), {0x3a, 0x10, 0x5a}} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := graphIO(p); err == nil {
			t.Errorf("%q: no error", data)
		}
	}
}
