package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/results"
)

// TestTrackKillResume kills `vidseg track` with SIGKILL after two frames,
// checks that every finished frame survived in every format, resumes the
// run and compares every output with an uninterrupted run's, byte for byte.
func TestTrackKillResume(t *testing.T) {
	model := testutil.SmallModel(t)
	video := testutil.Clip(t, "crossing")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("needs the model run and ONNX Runtime (make setup)")
	}
	dir := t.TempDir()
	env := []string{"VIDSEG_MODEL=" + model}
	args := func(out string) []string {
		return []string{"track", video, "--point", "60,120", "--box", "40,100,90,140@2#2", "--frames", "6", "--out", out}
	}

	clean := filepath.Join(dir, "clean")
	r := vidseg(t, dir, env, args(clean)...)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "present: object score > -1 (mode samurai)") {
		t.Errorf("the presence threshold is not reported:\n%s", r.stdout)
	}

	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(binPath, args(killed)...)
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "VIDSEG_ORT_LIB=" + ortLib(t)}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.After(3 * time.Minute)
	for lines(t, filepath.Join(killed, results.MasksLog)) < 2 {
		select {
		case <-exited:
			t.Fatalf("track ended before two frames were recorded:\n%s", stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no two frames recorded within 3 minutes")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Process.Kill()
	<-exited
	if !cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("track finished before the kill:\n%s", stderr.String())
	}
	// Every finished frame is there in every format.
	n := lines(t, filepath.Join(killed, results.MasksLog))
	if got := lines(t, filepath.Join(killed, results.TracksFile)); got < n {
		t.Errorf("after kill -9: %d tracks.jsonl lines, %d finished frames", got, n)
	}
	for i := range n {
		if _, err := os.Stat(filepath.Join(killed, results.MasksDir, results.MaskName(i))); err != nil {
			t.Errorf("after kill -9: finished frame %d has no PNG: %v", i, err)
		}
	}

	// Another mode, or prompts given again, are refused.
	expect(t, vidseg(t, dir, env, "track", "--resume", killed, "--mode", "sam2"), cli.ExitUsage, "started in mode samurai")
	expect(t, vidseg(t, dir, env, "track", "--resume", killed, "--point", "1,1"), cli.ExitUsage, "takes its input, prompts")

	r = vidseg(t, dir, env, "track", "--resume", killed)
	expect(t, r, 0, "resuming "+killed)
	for _, name := range []string{results.MasksJSON, results.TracksFile, results.OverlayMP4, results.RunFile} {
		same(t, filepath.Join(clean, name), filepath.Join(killed, name))
	}
	pngs, _ := filepath.Glob(filepath.Join(clean, results.MasksDir, "*.png"))
	if len(pngs) != 6 {
		t.Fatalf("clean run wrote %d PNGs, want 6", len(pngs))
	}
	for _, p := range pngs {
		same(t, p, filepath.Join(killed, results.MasksDir, filepath.Base(p)))
	}
	for _, d := range []string{clean, killed} {
		if _, err := os.Stat(filepath.Join(d, results.MasksLog)); err == nil {
			t.Errorf("%s: %s left after a finished run", d, results.MasksLog)
		}
	}
	expect(t, vidseg(t, dir, env, "track", "--resume", killed), cli.ExitInput, "nothing to resume")
}

// TestTrackStaleOutput: a folder with an earlier run's results is refused
// unless --overwrite, which clears it (before the model loads: a missing
// model shows the order), and never clears a folder with other files.
func TestTrackStaleOutput(t *testing.T) {
	video := testutil.Clip(t, "crossing")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.MkdirAll(filepath.Join(out, results.MasksDir), 0o755)
	os.WriteFile(filepath.Join(out, results.MasksDir, "00063.png"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(out, results.MasksJSON), []byte("{}"), 0o644)
	noModel := []string{"VIDSEG_MODEL=" + dir}
	track := func(extra ...string) result {
		return vidseg(t, dir, noModel, append([]string{"track", video, "--point", "60,120", "--out", out}, extra...)...)
	}
	expect(t, track(), cli.ExitUsage, "is not empty: pass --overwrite")
	if _, err := os.Stat(filepath.Join(out, results.MasksDir, "00063.png")); err != nil {
		t.Fatal("refused run removed the old results")
	}
	expect(t, track("--overwrite"), cli.ExitModel, "manifest.json")
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("--overwrite left %v", entries)
	}
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	expect(t, track("--overwrite"), cli.ExitUsage, "holds notes.txt")
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Error("--overwrite removed a file track does not write")
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte("\n"))
}

func same(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Error(err)
		return
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Error(err)
		return
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ (%d and %d bytes)", a, b, len(x), len(y))
	}
}
