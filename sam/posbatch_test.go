package sam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	rehash(t, dir, "memory_attention.onnx", old)

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

// rehash writes file's new SHA-256 into the manifest of the package in dir.
func rehash(t *testing.T, dir, file string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, manifestName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	man["files"].(map[string]any)[file] = hex.EncodeToString(sum[:])
	if b, err = json.Marshal(man); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
