package sam

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

// TestOldPositionBatchSymbol opens an EdgeTAM package whose mem_pos still
// names its batch axis B, as exports before 2026-12-06 do, and attends two
// objects of one shape with their shared positions. Without the runtime's
// rename ONNX Runtime fails the run ("Shape mismatch attempting to re-use
// buffer").
func TestOldPositionBatchSymbol(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the model run")
	}
	dir := copyModelDir(t, testutil.EdgeTAMModel(t), "memory_attention.onnx")
	path := filepath.Join(dir, "memory_attention.onnx")
	model, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, ok, err := renameDim(model, "mem_pos", 0, posBatch, posBatchOld)
	if err != nil || !ok {
		t.Fatalf("the fixture's mem_pos batch axis is not %s (%v)", posBatch, err)
	}
	if _, again, _ := renameDim(old, "mem_pos", 0, posBatch, posBatchOld); again {
		t.Fatal("renamed twice")
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	editManifest(t, dir, func(m map[string]any) { m["files"].(map[string]any)["memory_attention.onnx"] = sum })
	if got, err := inputDimParam(old, "mem_pos", 0); err != nil || got != posBatchOld {
		t.Fatalf("mem_pos batch axis %q (%v) after the rename, want %q", got, err, posBatchOld)
	}

	m, err := Open(newTestRuntime(t), dir, Options{Provider: ProviderCPU, Threads: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, _, feats, objs := edgeTAMMemory(t, m)
	objs[0].Pointers = objs[1].Pointers // one shape: one batch of two
	if _, err := m.AttendMemoryBatch(context.Background(), feats, objs); err != nil {
		t.Fatal(err)
	}
}
