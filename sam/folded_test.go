package sam

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

// TestFixturesFolded checks that the committed packages carry the
// exporter's folded graphs (tools/export/fold.py, docs/model-package.md
// "Folded graphs"): no weight read through a Transpose, and in the image
// encoder, whose shapes are all static, no Shape arithmetic left and no
// Reshape of a Reshape that nothing else reads.
func TestFixturesFolded(t *testing.T) {
	for _, dir := range []string{testutil.FixtureModel(t), testutil.SmallModel(t), testutil.EdgeTAMModel(t)} {
		for _, graph := range []string{"image_encoder", "memory_attention", "mask_decoder", "memory_encoder"} {
			model, err := os.ReadFile(filepath.Join(dir, graph+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			nodes := nodesOf(t, model)
			op := map[string]string{} // output -> op type
			readers := map[string]int{}
			for _, n := range nodes {
				for _, o := range n.outputs {
					op[o] = n.opType
				}
				for _, in := range n.inputs {
					readers[in]++
				}
			}
			shapes := 0
			for _, n := range nodes {
				switch {
				case n.opType == "Shape":
					shapes++
				case graph == "image_encoder" && n.opType == "Reshape" && op[n.inputs[0]] == "Reshape" && readers[n.inputs[0]] == 1:
					t.Errorf("%s %s: Reshape %v of a Reshape", filepath.Base(dir), graph, n.outputs)
				}
			}
			if w := transposedWeights(t, model); w != 0 {
				t.Errorf("%s %s: %d MatMuls read a Transpose'd weight", filepath.Base(dir), graph, w)
			}
			if graph == "image_encoder" && shapes != 0 {
				t.Errorf("%s %s: %d Shape nodes in a graph of static shapes", filepath.Base(dir), graph, shapes)
			}
		}
	}
}
