package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/testutil"
)

// An interrupted `vidseg track` keeps what it tracked: masks.json and
// tracks.jsonl hold the frames finished before the signal.
func TestTrackInterruptKeepsResults(t *testing.T) {
	model := testutil.SmallModel(t)
	video := testutil.Clip(t, "crossing")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("needs the model run and ONNX Runtime (make setup)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cmd := exec.Command(binPath, "track", video, "--model", model, "--point", "60,120", "--out", out, "--no-overlay")
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "VIDSEG_ORT_LIB=" + ortLib(t)}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until a few frames are finished, then interrupt.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(out, "masks", "00002.png")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no frame finished in time; stderr:\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != cli.ExitInterrupted {
		t.Fatalf("exit: %v, want code %d; stderr:\n%s", err, cli.ExitInterrupted, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "masks.json"))
	if err != nil {
		t.Fatalf("interrupted track lost its results: %v\nstderr:\n%s", err, stderr.String())
	}
	var doc struct {
		Results []struct {
			Frame int `json:"frame"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) < 3 || len(doc.Results) >= 64 {
		t.Fatalf("masks.json holds %d frames, want the 3+ tracked before the interrupt (of 64)", len(doc.Results))
	}
	if _, err := os.Stat(filepath.Join(out, "tracks.jsonl")); err != nil {
		t.Fatal(err)
	}
	// The message says where the kept results are.
	if want := "tracked so far are in " + out; !strings.Contains(stderr.String(), want) {
		t.Errorf("interrupt message lacks %q:\n%s", want, tail(stderr.String(), 400))
	}
	t.Logf("kept %d frames; stderr tail: %s", len(doc.Results), tail(stderr.String(), 200))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
