package sam

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// bf16Input refuses a graph without the float32 input it is to take in
// bfloat16, and an input of another type; on the fixture's memory
// attention it declares the new input (graphIO reads it back).
func TestBF16InputRewrite(t *testing.T) {
	path := filepath.Join("..", "testdata", "model", "sam2.1_hiera_t_random256", "memory_attention.onnx")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	if _, err := bf16Input(data, "no_such_input", memFeatBF16); err == nil || !strings.Contains(err.Error(), "no float32 input no_such_input") {
		t.Errorf("missing input: %v", err)
	}
	if _, err := bf16Input(data, "mem_slot", memFeatBF16); err == nil || !strings.Contains(err.Error(), "not float32") {
		t.Errorf("int64 input: %v", err)
	}
	if _, err := bf16Input(data[:len(data)/2], "mem_feat", memFeatBF16); err == nil {
		t.Error("a cut graph was rewritten")
	}
	out, err := bf16Input(data, "mem_feat", memFeatBF16)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "g.onnx")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		t.Fatal(err)
	}
	in, _, err := graphIO(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range in {
		names = append(names, v.Name)
		if v.Name == memFeatBF16 && v.DataType != ort.TensorElementDataTypeBFloat16 {
			t.Errorf("%s has type %s", v.Name, v.DataType)
		}
		if v.Name == "mem_feat" {
			t.Error("mem_feat is still an input")
		}
	}
	if !strings.Contains(strings.Join(names, " "), memFeatBF16) {
		t.Errorf("inputs %v", names)
	}
}
