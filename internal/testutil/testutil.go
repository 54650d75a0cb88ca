// Package testutil holds what the tests of several packages share: where
// the repository and its sample videos are, and a WebRTC viewer.
package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const modulePath = "github.com/vidseg/vidseg"

// RepoRoot returns the module root: the first directory at or above the
// test's working directory (its package directory) whose go.mod declares
// this module. It does not depend on where the source was compiled.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+modulePath+"\n")) {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("repository root: no go.mod of %s at or above %s", modulePath, dir)
		}
	}
}

// SharedVideo returns the path of a sample clip in ../shared/videos beside
// the repository, and skips the test when it is absent: the clips are too
// big for the repository and are never copied into it.
func SharedVideo(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", "videos", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared clip %s absent (%v): tests look for ../shared/videos beside the repository", name, err)
	}
	return p
}

// Clip returns the path of a generated clip committed under
// testdata/videos (tools/genvideos writes them).
func Clip(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "testdata", "videos", name, "video.mp4")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("generated clip %s missing (go run ./tools/genvideos -out testdata/videos): %v", name, err)
	}
	return p
}

// RSS returns the test process's resident set size in bytes, skipping the
// test where /proc does not tell it.
func RSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// FixtureModelDir is the committed random-weight model, relative to the
// repository root (tools/export/make_fixture.sh writes it). Its 1024-px
// input is what the official traces were recorded at: the fidelity tests
// (graph parity, trace parity) use it.
const FixtureModelDir = "testdata/model/sam2.1_hiera_t_random"

// SmallModelDir is the same recipe (seed, depth, weights) exported at a
// 256-px input: features 16x16, masks 64x64, about 30x less work per frame.
// Tests that check plumbing (serving, journaling, resuming, the command
// line, streams) rather than numbers use it.
const SmallModelDir = "testdata/model/sam2.1_hiera_t_random256"

// EdgeTAMModelDir is the committed random-weight EdgeTAM model (RepViT
// trunk, perceiver memory) at a 512-px input, the model of the EdgeTAM
// traces (tools/export/make_edgetam_traces.sh writes both).
const EdgeTAMModelDir = "testdata/model/edgetam_random512"

// EdgeTAMModel returns the path of EdgeTAMModelDir and skips the test when
// it is absent.
func EdgeTAMModel(t testing.TB) string {
	t.Helper()
	return committedModel(t, EdgeTAMModelDir)
}

// FixtureModel returns the path of the committed random-weight model and
// skips the test when it is absent.
func FixtureModel(t testing.TB) string {
	t.Helper()
	return committedModel(t, FixtureModelDir)
}

// SmallModel returns the path of the committed 256-px random-weight model
// (SmallModelDir) and skips the test when it is absent.
func SmallModel(t testing.TB) string {
	t.Helper()
	return committedModel(t, SmallModelDir)
}

func committedModel(t testing.TB, dir string) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), dir)
	if _, err := os.Stat(filepath.Join(d, "manifest.json")); err != nil {
		t.Skipf("fixture model %s absent (tools/export/make_fixture.sh writes it): %v", dir, err)
	}
	return d
}

// FFmpeg runs the ffmpeg CLI with args (quiet, overwriting outputs), and
// skips the test when the CLI is not installed.
func FFmpeg(t testing.TB, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg CLI not installed (apt-get install ffmpeg)")
	}
	out, err := exec.Command(bin, append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// Patience is how long a test waits for an event before calling it lost:
// at least two minutes, because CI shares its cores with other work and a
// wait that ends on its event costs nothing more.
func Patience(d time.Duration) time.Duration { return max(d, 2*time.Minute) }

// Environment variables that run the model tests on another execution
// provider or model package (a GPU machine: provider cuda, an fp16 export).
const (
	EnvTestProvider = "VIDSEG_TEST_PROVIDER" // "cpu" (default), "cuda" or "auto"
	EnvTestModel    = "VIDSEG_TEST_MODEL"    // replaces the fixture model
	// The attentions' precision in the tracker's model tests
	// (sam.Options.Attention): "bf16" measures its fidelity on the traces.
	EnvTestAttention = "VIDSEG_TEST_ATTENTION"
	// EnvTestMatMul sets the model tests' sam.Options.MatMul.
	EnvTestMatMul = "VIDSEG_TEST_MATMUL"
)

// Attention is the sam.Options.Attention the model tests use ("" = fp32).
func Attention() string { return os.Getenv(EnvTestAttention) }

// MatMul is the sam.Options.MatMul the model tests use ("" = fp32).
func MatMul() string { return os.Getenv(EnvTestMatMul) }

// Provider is the execution provider the model tests run on.
func Provider() string {
	if p := os.Getenv(EnvTestProvider); p != "" {
		return p
	}
	return "cpu"
}

// ModelDir returns dir, or the package named by VIDSEG_TEST_MODEL when dir
// is the fixture model (absolute or relative to the repository root).
func ModelDir(dir string) string {
	if alt := os.Getenv(EnvTestModel); alt != "" && strings.HasSuffix(filepath.Clean(dir), filepath.Clean(FixtureModelDir)) {
		return alt
	}
	return dir
}
