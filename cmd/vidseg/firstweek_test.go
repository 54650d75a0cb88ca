package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/results"
)

// The rough edges a first week of use found (issue 28): messages, help,
// eval and sessions corner cases, and the installed layout's lookups.

// A typo in a command or a flag gets a suggestion, flags are named with
// the "--" the docs use, and a flag's error names the command's help.
func TestDidYouMean(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"trak", "in.mp4"}, []string{`unknown command "trak"`, `did you mean "track"`}},
		{[]string{"track", "in.mp4", "--poitn", "1,2", "--out", "o"}, []string{"--poitn", "did you mean --point?"}},
		// --frame is track's own flag (the frame --everything segments).
		{[]string{"track", "in.mp4", "--frmes", "3", "--point", "1,2", "--out", "o"}, []string{"--frmes", "did you mean --frames?"}},
		{[]string{"track", "in.mp4", "--point", "1,2", "--out"}, []string{"flag needs an argument: --out"}},
		{[]string{"track", "in.mp4", "--point", "1,2", "--out", "o", "--frames", "x"}, []string{`invalid value "x" for flag --frames`}},
		{[]string{"sessions", "lst"}, []string{`unknown subcommand "lst"`, `did you mean "list"`}},
	}
	for _, c := range cases {
		r := vidseg(t, dir, nil, c.args...)
		expect(t, r, cli.ExitUsage, "")
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, r.stderr)
			}
		}
		for _, bad := range []string{" -poitn", " -frmes:", " -out", "for flag -frames"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("%q: single-dash flag name %q in:\n%s", c.args, bad, r.stderr)
			}
		}
	}
}

// `help help` and `version --help` are help, not errors or the version.
func TestHelpOfHelpAndVersion(t *testing.T) {
	dir := t.TempDir()
	r := vidseg(t, dir, nil, "help", "help")
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "Usage") {
		t.Errorf("help help:\n%s", r.stdout)
	}
	r = vidseg(t, dir, nil, "version", "--help")
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "Usage") || strings.HasPrefix(r.stdout, "vidseg dev") {
		t.Errorf("version --help printed:\n%s", r.stdout)
	}
	r = vidseg(t, dir, nil, "help", "trak")
	expect(t, r, cli.ExitUsage, `did you mean "track"`)
}

// A non-empty --out suggests --resume only when it holds an interrupted
// run (run.json).
func TestOutResumeHint(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	r := vidseg(t, dir, nil, "track", "in.mp4", "--point", "1,2", "--out", foreign)
	expect(t, r, cli.ExitUsage, "not empty")
	if strings.Contains(r.stderr, "--resume") {
		t.Errorf("a folder without run.json suggests --resume:\n%s", r.stderr)
	}
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, results.RunFile), []byte("{}"), 0o644)
	expect(t, vidseg(t, dir, nil, "track", "in.mp4", "--point", "1,2", "--out", run), cli.ExitUsage, "--resume "+run)
}

// The ONNX Runtime search list names each place once.
func TestRuntimeSearchListUnique(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	model := testutil.FixtureModel(t)
	dir := t.TempDir()
	r := vidseg(t, dir, []string{"VIDSEG_ORT_LIB=", "VIDSEG_MODEL=" + model}, "track", clip, "--point", "40,110", "--out", "o")
	expect(t, r, cli.ExitFailure, "looked in:")
	seen := map[string]bool{}
	for _, line := range strings.Split(r.stderr, "\n") {
		if p, ok := strings.CutPrefix(line, "  "); ok {
			if seen[p] {
				t.Errorf("searched twice: %s", p)
			}
			seen[p] = true
		}
	}
	if len(seen) < 3 {
		t.Errorf("search list:\n%s", r.stderr)
	}
}

// With no model the hint names the exporter and the fixture where they
// are (a binary in a checkout's bin/, run from another folder), not paths
// relative to a checkout the user may not be in.
func TestNoModelHintPaths(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	dir := t.TempDir()
	checkout := filepath.Join(dir, "checkout")
	os.MkdirAll(filepath.Join(checkout, "bin"), 0o755)
	os.MkdirAll(filepath.Join(checkout, "tools", "export"), 0o755)
	os.WriteFile(filepath.Join(checkout, "tools", "export", "export.py"), nil, 0o644)
	data, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(checkout, "bin", "vidseg")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	saved := binPath
	binPath = bin
	defer func() { binPath = saved }()
	r := vidseg(t, elsewhere, nil, "track", clip, "--point", "40,110", "--out", "o")
	expect(t, r, cli.ExitModel, filepath.Join(checkout, "tools", "export", "export.py"))
	if strings.Contains(r.stderr, " tools/export/export.py") {
		t.Errorf("the hint names the exporter relative to the working folder:\n%s", r.stderr)
	}
}

// eval takes a track output folder as the ground truth too, and a ground
// truth whose first frame holds no object is reported, not refused.
func TestEvalTrackFolderAsGroundTruth(t *testing.T) {
	gt := filepath.Join(testutil.RepoRoot(t), "testdata", "videos", "crossing", "masks")
	if _, err := os.Stat(gt); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent: run go run ./tools/genvideos")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base1")
	if err := os.CopyFS(filepath.Join(base, results.MasksDir), os.DirFS(gt)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{filepath.Join(base, "masks"), base}, {base, filepath.Join(base, "masks")}, {base, base}} {
		r := vidseg(t, dir, nil, append([]string{"eval"}, args...)...)
		expect(t, r, 0, "")
		if !strings.Contains(r.stdout, "base1") || !strings.Contains(r.stdout, "1.000") {
			t.Errorf("eval %q:\n%s", args, r.stdout)
		}
	}

	// No object in the ground truth: nothing to score, said plainly.
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	for i := range 3 {
		var buf bytes.Buffer
		mask.EncodePNG(&buf, make([]byte, 16), 4, 4)
		os.WriteFile(filepath.Join(empty, results.MaskName(i)), buf.Bytes(), 0o644)
	}
	r := vidseg(t, dir, nil, "eval", empty, empty)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "no object") {
		t.Errorf("eval of a ground truth without objects:\n%s", r.stdout)
	}
}

// sessions delete and import never create a store as a side effect.
func TestSessionsNoStoreCreated(t *testing.T) {
	dir := t.TempDir()
	none := filepath.Join(dir, "none.db")
	expect(t, vidseg(t, dir, nil, "sessions", "delete", "abc", "--store", none), cli.ExitInput, "no store")
	fresh := filepath.Join(dir, "new.db")
	expect(t, vidseg(t, dir, nil, "sessions", "import", filepath.Join(dir, "missing.jsonl"), "--store", fresh), cli.ExitInput, "missing.jsonl")
	for _, p := range []string{none, fresh} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created", p)
		}
	}
}

// After `make install` the binary lives in ~/.local/bin, ONNX Runtime in
// ~/.local/lib/vidseg and models in ~/.local/share/vidseg/models: run from
// any folder with nothing configured, it finds both.
func TestInstalledLayoutLookup(t *testing.T) {
	model, clip := trackSetup(t)
	lib := ortLib(t)
	home := t.TempDir()
	for _, d := range []string{".local/bin", ".local/lib/vidseg", ".local/share/vidseg/models"} {
		os.MkdirAll(filepath.Join(home, d), 0o755)
	}
	if err := os.Symlink(lib, filepath.Join(home, ".local/lib/vidseg/libonnxruntime.so.1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(model, filepath.Join(home, ".local/share/vidseg/models", filepath.Base(model))); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	r := vidseg(t, elsewhere, []string{"HOME=" + home, "VIDSEG_ORT_LIB="}, "track", clip, "--point", "40,110", "--frames", "1", "--no-overlay", "--out", "o")
	expect(t, r, 0, "")
	if want := filepath.Join(home, ".local/share/vidseg/models", filepath.Base(model)); !strings.Contains(r.stderr, want) {
		t.Errorf("the run does not name the installed model %s:\n%s", want, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "o", results.MasksJSON)); err != nil {
		t.Error(err)
	}
}

// A file cut short is called truncated, whether it lost its index (an MP4
// whose moov comes last) or ends inside a frame, and FFmpeg's own log
// lines stay out of the way.
func TestTruncatedInputMessages(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	dir := t.TempDir()
	noModel := []string{"VIDSEG_MODEL=" + filepath.Join(dir, "nomodel")}
	for _, c := range []struct {
		name  string
		flags []string
		keep  int // percent
	}{
		{"index-last", []string{"-g", "1"}, 70},
		{"gop", []string{"-g", "5", "-movflags", "+faststart"}, 30},
	} {
		whole := filepath.Join(dir, c.name+".mp4")
		testutil.FFmpeg(t, append(append([]string{"-i", clip, "-frames:v", "10", "-c:v", "libx264"}, c.flags...), whole)...)
		data, err := os.ReadFile(whole)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(dir, c.name+"-cut.mp4")
		os.WriteFile(cut, data[:len(data)*c.keep/100], 0o644)
		r := vidseg(t, dir, noModel, "track", cut, "--point", "40,110", "--out", "o")
		expect(t, r, cli.ExitInput, "truncated")
		for _, bad := range []string{"not a recognized media file", "draining decoder", "[h264 @", "[mov,mp4"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("%s: stderr holds %q:\n%s", c.name, bad, r.stderr)
			}
		}
	}
}

// --both-ends propagates forward from the earliest prompted frame and
// backward from the latest: with prompts on frames 0 and 1 of 2, both
// passes run (4 frame steps); --both's backward pass from frame 0 has
// nothing to do.
func TestTrackBothEnds(t *testing.T) {
	model, clip := trackSetup(t)
	dir := t.TempDir()
	r := vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "track", clip, "--point", "40,110@0", "--point", "40,110@1",
		"--frames", "2", "--both-ends", "--no-overlay", "--quiet", "--out", "o")
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "4 frame steps") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	doc := readMasksJSON(t, filepath.Join(dir, "o"))
	if doc.Frames != 2 || len(doc.Results) != 2 {
		t.Errorf("masks.json: %d frames, %d results", doc.Frames, len(doc.Results))
	}
}
