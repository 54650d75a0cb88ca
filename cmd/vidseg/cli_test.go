package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/bench"
	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/doctor"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/store"
)

// These tests build the real binary once and run it as a user would.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vidseg-cli-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "vidseg")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		os.Stderr.Write(out)
		panic("go build ./cmd/vidseg: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ortLib is the ONNX Runtime library the binary should use: the
// environment's (make test sets it), else the copy `make setup` installs.
func ortLib(t *testing.T) string {
	if lib := os.Getenv("VIDSEG_ORT_LIB"); lib != "" {
		return lib
	}
	lib := filepath.Join(testutil.RepoRoot(t), "third_party", "onnxruntime", "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err == nil {
		return lib
	}
	return ""
}

type result struct {
	code           int
	stdout, stderr string
}

// vidseg runs the binary in dir with a clean environment: HOME points at
// an empty temp dir (no user config), no VIDSEG_* settings but the ONNX
// Runtime library, and extra as given.
func vidseg(t *testing.T, dir string, extra []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if lib := ortLib(t); lib != "" {
		cmd.Env = append(cmd.Env, "VIDSEG_ORT_LIB="+lib)
	}
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run vidseg %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

func expect(t *testing.T, r result, code int, inStderr string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if inStderr != "" && !strings.Contains(r.stderr, inStderr) {
		t.Errorf("stderr lacks %q:\n%s", inStderr, r.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"track", "--nope"}, "flag provided but not defined: --nope"},
		{"no input", []string{"track", "--point", "1,2", "--out", "o"}, "exactly one INPUT"},
		{"no prompt", []string{"track", "in.mp4", "--out", "o"}, "at least one --point"},
		{"no out", []string{"track", "in.mp4", "--point", "1,2"}, "--out DIR is required"},
		{"bad label", []string{"track", "in.mp4", "--point", "1,2,maybe", "--out", "o"}, `label "maybe"`},
		{"bad frame", []string{"track", "in.mp4", "--point", "1,2@x", "--out", "o"}, "not a frame index"},
		{"bad object", []string{"track", "in.mp4", "--point", "1,2#0", "--out", "o"}, "not an object id"},
		{"negative point", []string{"track", "in.mp4", "--point", "-1,2", "--out", "o"}, "negative"},
		{"empty box", []string{"track", "in.mp4", "--box", "5,5,5,9", "--out", "o"}, "X1 must exceed X0"},
		{"short box", []string{"track", "in.mp4", "--box", "1,2,3", "--out", "o"}, "want X0,Y0,X1,Y1"},
		{"reverse and both", []string{"track", "in.mp4", "--point", "1,2", "--reverse", "--both", "--out", "o"}, "exclude each other"},
		{"bad mode", []string{"track", "in.mp4", "--point", "1,2", "--mode", "fast", "--out", "o"}, "unknown mode"},
		{"eval one arg", []string{"eval", "a"}, "needs PRED and GT"},
		{"bench objects", []string{"bench", "--objects", "0"}, "--objects"},
		{"bench warmup", []string{"bench", "--warmup", "0"}, "--warmup"},
		{"sessions verb", []string{"sessions", "frob"}, "unknown subcommand"},
		{"serve codec", []string{"serve", "--codec", "av1", "--no-store"}, `codec "av1"`},
		{"serve upload limit", []string{"serve", "--upload-limit", "lots", "--no-store"}, "not a size"},
		{"missing config", []string{"--config", "nope.json", "doctor"}, "nope.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, vidseg(t, dir, nil, c.args...), cli.ExitUsage, c.msg)
		})
	}
}

func TestBadConfigKeyExit2(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.conf")
	os.WriteFile(cfg, []byte("# comment\nmodel = x\ncolour = red\n"), 0o644)
	r := vidseg(t, dir, nil, "track", "--config", cfg, "in.mp4", "--point", "1,2", "--out", "o")
	expect(t, r, cli.ExitUsage, `c.conf:3: unknown key "colour"`)
}

func TestHelp(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"help"}, {"help", "track"}, {"track", "--help"}, {"eval", "-h"},
		{"doctor", "--help"}, {"bench", "--help"}, {"serve", "--help"}, {"sessions", "--help"}, {"help", "config"}} {
		r := vidseg(t, dir, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage") && args[len(args)-1] != "config" {
			t.Errorf("%q: exit %d, stdout:\n%s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	r := vidseg(t, dir, nil, "track", "--help")
	for _, want := range []string{"--point", "X,Y[,LABEL][@FRAME][#OBJECT]", "tools/export/export.py", "Exit codes", "Examples", "masks.json"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("track --help lacks %q", want)
		}
	}
}

// TestHelpFlagsReadWell: each flag's placeholder is a word, not a piece of
// its help text, and its default is said once.
func TestHelpFlagsReadWell(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"track", "serve", "bench", "sessions"} {
		r := vidseg(t, dir, nil, cmd, "--help")
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.Count(line, "(default") > 1 || strings.Contains(line, "default ~/") && strings.Contains(line, "(default /") {
				t.Errorf("%s --help: default said twice: %q", cmd, line)
			}
			if strings.HasPrefix(line, "  -") && (strings.HasSuffix(line, " value") || strings.Contains(line, "vidseg doctor")) {
				t.Errorf("%s --help: flag line without a proper placeholder: %q", cmd, line)
			}
		}
	}
}

func TestMissingInputExit3(t *testing.T) {
	dir := t.TempDir()
	r := vidseg(t, dir, nil, "track", "missing.mp4", "--point", "10,10", "--out", "o")
	expect(t, r, cli.ExitInput, "input missing.mp4: no such file")
	r = vidseg(t, dir, nil, "eval", "nopred", "nogt")
	expect(t, r, cli.ExitInput, "nopred: no such directory")
	// A file that is not a video fails in the decoder: still the input's fault.
	os.WriteFile(filepath.Join(dir, "junk.mp4"), []byte("not a video at all"), 0o644)
	root := testutil.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, sam.FixtureDir, "manifest.json")); err == nil {
		r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + filepath.Join(root, sam.FixtureDir)}, "track", "junk.mp4", "--point", "1,1", "--out", "o")
		expect(t, r, cli.ExitInput, "junk.mp4")
	}
}

func TestNoModelExit4(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	dir := t.TempDir() // no ./models, no testdata beside the binary
	r := vidseg(t, dir, nil, "track", clip, "--point", "40,110", "--out", "o")
	// The binary is outside a checkout: the exporter is named as in one, and
	// the export goes where the lookup finds it from any folder.
	expect(t, r, cli.ExitModel, "in a vidseg source checkout:\n  /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --out ")
	if !strings.Contains(r.stderr, filepath.Join(".local", "share", "vidseg", "models", "sam2.1_hiera_t")) {
		t.Errorf("no-model message does not export into the installed models:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, sam.FixtureDir) {
		t.Errorf("no-model message does not mention the fixture:\n%s", r.stderr)
	}
	// A directory without a manifest is an invalid model.
	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + dir}, "track", clip, "--point", "40,110", "--out", "o")
	expect(t, r, cli.ExitModel, "manifest.json")
}

func TestEvalKnownMasks(t *testing.T) {
	root := testutil.RepoRoot(t)
	gt := filepath.Join(root, "testdata", "videos", "crossing", "masks")
	if _, err := os.Stat(gt); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent: run go run ./tools/genvideos")
	}
	dir := t.TempDir()
	r := vidseg(t, dir, nil, "eval", gt, gt)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "crossing") || !strings.Contains(r.stdout, "1.000") {
		t.Errorf("eval of GT against itself:\n%s", r.stdout)
	}

	// A prediction that loses object 2 everywhere: object 1 scores 1, object
	// 2 scores 0 on every frame it is visible (all of them), so J = F = 0.5.
	pred := filepath.Join(dir, "out", results.MasksDir)
	os.MkdirAll(pred, 0o755)
	files, _ := filepath.Glob(filepath.Join(gt, "*.png"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		labels, w, h, err := mask.DecodePNG(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range labels {
			if v == 2 {
				labels[i] = 0
			}
		}
		var buf bytes.Buffer
		mask.EncodePNG(&buf, labels, w, h)
		os.WriteFile(filepath.Join(pred, filepath.Base(f)), buf.Bytes(), 0o644)
	}
	// PRED given as a track output folder (holding masks/).
	r = vidseg(t, dir, nil, "eval", filepath.Join(dir, "out"), gt, "--json")
	expect(t, r, 0, "")
	var rep struct {
		JF float64 `json:"jf_mean"`
		J  struct {
			Mean float64 `json:"mean"`
		} `json:"j"`
		Sequences []struct {
			Name    string `json:"name"`
			Objects []struct {
				ID int `json:"id"`
				J  struct {
					Mean float64 `json:"mean"`
				} `json:"j"`
			} `json:"objects"`
		} `json:"sequences"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, r.stdout)
	}
	if len(rep.Sequences) != 1 || rep.Sequences[0].Name != "crossing" || len(rep.Sequences[0].Objects) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if j := rep.Sequences[0].Objects[0].J.Mean; j != 1 {
		t.Errorf("object 1 J = %v, want 1", j)
	}
	if j := rep.Sequences[0].Objects[1].J.Mean; j != 0 {
		t.Errorf("object 2 J = %v, want 0", j)
	}
	if rep.J.Mean != 0.5 || rep.JF != 0.5 {
		t.Errorf("mean J %v J&F %v, want 0.5 and 0.5", rep.J.Mean, rep.JF)
	}

	// A missing prediction frame is an input error naming the frame.
	os.Remove(filepath.Join(pred, "00010.png"))
	r = vidseg(t, dir, nil, "eval", pred, gt)
	expect(t, r, cli.ExitInput, "00010")
}

func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	r := vidseg(t, dir, []string{"VIDSEG_MODEL=" + filepath.Join(dir, "nomodel")}, "doctor", "--json")
	var rep struct {
		OK     bool           `json:"ok"`
		Checks []doctor.Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	byName := map[string]doctor.Check{}
	for _, c := range rep.Checks {
		byName[c.Name] = c
	}
	if c := byName["ffmpeg"]; c.Status != "ok" || !strings.Contains(c.Detail, "libavcodec") {
		t.Errorf("ffmpeg check: %+v", c)
	}
	if c := byName["model"]; c.Status != "fail" || !strings.Contains(c.Detail, "nomodel") || c.Fix == "" {
		t.Errorf("model check with a missing directory: %+v", c)
	}
	if rep.OK || r.code != cli.ExitFailure {
		t.Errorf("doctor with a missing model: ok=%v exit %d, want false and 1", rep.OK, r.code)
	}
	if c := byName["onnxruntime"]; c.Status != "ok" {
		t.Logf("onnxruntime not usable here: %+v", c)
	} else if c := byName["bf16"]; c.Status != "ok" || !strings.Contains(c.Detail, "--matmul") {
		// Whether this CPU runs the bf16 kernels fast, either way named.
		t.Errorf("bf16 check: %+v", c)
	}

	root := testutil.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, sam.FixtureDir, "manifest.json")); err != nil {
		t.Skip("fixture model absent; skipping the passing doctor run")
	}
	r = vidseg(t, dir, []string{"VIDSEG_MODEL=" + filepath.Join(root, sam.FixtureDir)}, "doctor")
	if !strings.Contains(r.stdout, "RANDOM weights") || !strings.Contains(r.stdout, "model load") {
		t.Errorf("doctor with the fixture:\n%s", r.stdout)
	}
	if byName["onnxruntime"].Status == "ok" && byName["codecs"].Status == "ok" && r.code != 0 {
		t.Errorf("doctor with the fixture exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestSessionsExportImport(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.db")
	st, err := store.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.CreateSession(store.Info{Source: "/videos/clip.mp4", Width: 4, Height: 2})
	st.AddPrompt(info.ID, store.Prompt{Prompt: prompt.Prompt{Object: 1, Points: []prompt.Point{{X: 1, Y: 1, Positive: true}}}})
	rle, _ := mask.EncodeRLE([]byte{1, 1, 0, 0, 0, 0, 1, 1}, 4, 2)
	for i := range 3 {
		st.PutFrame(info.ID, store.Frame{Index: i, Objects: []store.FrameObject{{Object: 1, Mask: rle}}})
	}
	st.Close()

	r := vidseg(t, dir, nil, "sessions", "list", "--store", src)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, info.ID) || !strings.Contains(r.stdout, "/videos/clip.mp4") {
		t.Errorf("list:\n%s", r.stdout)
	}
	export := filepath.Join(dir, "s.jsonl")
	expect(t, vidseg(t, dir, nil, "sessions", "export", info.ID, export, "--store", src), 0, "")
	expect(t, vidseg(t, dir, nil, "sessions", "export", "nosuch", export, "--store", src), cli.ExitInput, "not found")
	// The store path may also come from the environment.
	dst := filepath.Join(dir, "b.db")
	r = vidseg(t, dir, []string{"VIDSEG_STORE=" + dst}, "sessions", "import", export)
	expect(t, r, 0, "")
	r = vidseg(t, dir, []string{"VIDSEG_STORE=" + dst}, "sessions", "show", info.ID)
	expect(t, r, 0, "")
	var sess store.Session
	if err := json.Unmarshal([]byte(r.stdout), &sess); err != nil {
		t.Fatalf("show: %v\n%s", err, r.stdout)
	}
	if sess.FrameCount != 3 || len(sess.Prompts) != 1 || sess.Info.Source != "/videos/clip.mp4" {
		t.Errorf("imported session %+v", sess)
	}
	expect(t, vidseg(t, dir, []string{"VIDSEG_STORE=" + dst}, "sessions", "import", export), cli.ExitFailure, "already exists")
	expect(t, vidseg(t, dir, nil, "sessions", "list", "--store", filepath.Join(dir, "none.db")), cli.ExitInput, "no store")
}

// readJSONL decodes every line of path into a new T.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, v)
	}
	return out
}

// trackSetup returns the fixture model and the generated "crossing" clip
// for a test that runs the model, skipping it under -short or without ONNX
// Runtime.
func trackSetup(t *testing.T) (model, video string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the model")
	}
	if ortLib(t) == "" {
		t.Skip("ONNX Runtime library absent: run make setup")
	}
	return testutil.SmallModel(t), testutil.Clip(t, "crossing")
}

func TestTrackFixture(t *testing.T) {
	model, video := trackSetup(t)
	clipDir := filepath.Dir(video)
	dir := t.TempDir()
	envModel := []string{"VIDSEG_MODEL=" + model}

	// A prompt past the tracked frames is a usage error, found before any inference.
	r := vidseg(t, dir, envModel, "track", video, "--point", "10,10@5", "--frames", "3", "--out", "bad")
	expect(t, r, cli.ExitUsage, "frame 5")

	// Ground truth for the first 3 frames, so eval scores the middle one.
	gt := filepath.Join(dir, "gt", "crossing")
	os.MkdirAll(gt, 0o755)
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join(clipDir, "masks", results.MaskName(i)))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(gt, results.MaskName(i)), data, 0o644)
	}
	out := filepath.Join(dir, "out")
	// The first frame's annotation as mask prompt (one object per label):
	// the prompted frame's output is that mask through the model's 256x256
	// grid, so it can be checked against the ground truth even with random weights.
	r = vidseg(t, dir, envModel, "track", video, "--mask", filepath.Join(gt, results.MaskName(0)), "--frames", "3", "--mode", "sam2", "--out", out)
	expect(t, r, 0, "RANDOM weights")
	if !strings.Contains(r.stdout, "tracked 2 object(s) over 3 frames") {
		t.Errorf("track summary:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "track: 3/3 frames") {
		t.Errorf("no progress lines:\n%s", r.stderr)
	}

	var doc struct {
		Format  string `json:"format"`
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Frames  int    `json:"frames"`
		Objects []int  `json:"objects"`
		Results []struct {
			Frame   int `json:"frame"`
			Objects []struct {
				ID           int      `json:"id"`
				Segmentation mask.RLE `json:"segmentation"`
				Area         int      `json:"area"`
				BBox         *[4]int  `json:"bbox"`
			} `json:"objects"`
		} `json:"results"`
	}
	data, err := os.ReadFile(filepath.Join(out, results.MasksJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("masks.json: %v", err)
	}
	if doc.Format != results.MasksFormat || doc.Width != 320 || doc.Height != 240 || doc.Frames != 3 || len(doc.Results) != 3 || len(doc.Objects) != 2 {
		t.Fatalf("masks.json header %+v", doc)
	}
	for _, fr := range doc.Results {
		f, err := os.Open(filepath.Join(out, results.MasksDir, results.MaskName(fr.Frame)))
		if err != nil {
			t.Fatal(err)
		}
		labels, w, h, err := mask.DecodePNG(f)
		f.Close()
		if err != nil || w != 320 || h != 240 {
			t.Fatalf("frame %d png: %v (%dx%d)", fr.Frame, err, w, h)
		}
		for _, o := range fr.Objects {
			m, err := o.Segmentation.Decode()
			if err != nil {
				t.Fatalf("frame %d object %d rle: %v", fr.Frame, o.ID, err)
			}
			area := 0
			for i, v := range m {
				area += int(v)
				// The PNG holds the object where its RLE does, unless a
				// higher id overlaps; and nowhere else.
				if v != 0 && int(labels[i]) < o.ID || v == 0 && int(labels[i]) == o.ID {
					t.Fatalf("frame %d object %d: RLE and PNG disagree at pixel %d (rle %d, png %d)", fr.Frame, o.ID, i, v, labels[i])
				}
			}
			if area != o.Area || (area > 0) != (o.BBox != nil) {
				t.Errorf("frame %d object %d: area %d, record says %d, bbox %v", fr.Frame, o.ID, area, o.Area, o.BBox)
			}
			if fr.Frame == 0 {
				gtLabels, _, _, err := mask.ReadPNG(filepath.Join(gt, results.MaskName(0)))
				if err != nil {
					t.Fatal(err)
				}
				want := make([]byte, len(gtLabels))
				for i, v := range gtLabels {
					if int(v) == o.ID {
						want[i] = 1
					}
				}
				if iou, _ := mask.IoU(m, want); iou < 0.8 {
					t.Errorf("frame 0 object %d: IoU with the mask prompt %.3f, want >= 0.8", o.ID, iou)
				}
			}
		}
	}

	type trackLine struct {
		Frame   int `json:"frame"`
		Objects []struct {
			ID           int     `json:"id"`
			Box          *[4]int `json:"box"`
			IoU          float32 `json:"iou"`
			ObjectScore  float32 `json:"object_score"`
			Present      bool    `json:"present"`
			Conditioning bool    `json:"conditioning"`
		} `json:"objects"`
	}
	lines := readJSONL[trackLine](t, filepath.Join(out, results.TracksFile))
	if len(lines) != 3 {
		t.Fatalf("tracks.jsonl has %d lines, want 3", len(lines))
	}
	for i, l := range lines {
		if l.Frame != i || len(l.Objects) != 2 || l.Objects[0].ID != 1 || l.Objects[1].ID != 2 {
			t.Errorf("tracks.jsonl line %d: %+v", i, l)
		}
	}
	if o := lines[0].Objects[0]; !o.Conditioning || o.Box == nil {
		t.Errorf("frame 0 object 1 (mask prompt): %+v", o)
	}

	// The overlay decodes back to 3 frames of the source size.
	probe := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", filepath.Join(out, results.OverlayMP4))
	if pout, err := probe.Output(); err != nil {
		t.Logf("ffprobe unavailable: %v", err)
	} else if got := strings.TrimSpace(string(pout)); got != "h264,320,240,3" {
		t.Errorf("overlay.mp4: %q, want h264,320,240,3", got)
	}

	// The output works with eval.
	r = vidseg(t, dir, nil, "eval", out, gt)
	expect(t, r, 0, "")
	if !strings.Contains(r.stdout, "crossing") || !strings.Contains(r.stdout, "mean") {
		t.Errorf("eval of the track output:\n%s", r.stdout)
	}
}

func TestBenchJSON(t *testing.T) {
	model := testutil.SmallModel(t)
	clip := testutil.Clip(t, "moving_shape")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("runs the model (needs the ONNX Runtime library; not in -short)")
	}
	r := vidseg(t, t.TempDir(), []string{"VIDSEG_MODEL=" + model}, "bench", clip, "--objects", "1", "--frames", "1", "--json")
	expect(t, r, 0, "")
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, r.stdout)
	}
	if !rep.Random || rep.Width != 320 || len(rep.Runs) != 1 {
		t.Fatalf("report %+v", rep)
	}
	run := rep.Runs[0]
	// Frame 0 (prompted) and frame 1 (first memory attention) warm up
	// untimed; the one frame asked is timed alone.
	if run.Objects != 1 || run.Warmup != 2 || run.Frames != 1 || run.Asked != 1 || run.FPS <= 0 || run.PeakRSSMB <= 0 {
		t.Errorf("run %+v, want 2 warm-up frames and 1 timed", run)
	}
	// --warmup 7 times frames with a full memory bank only.
	r7 := vidseg(t, t.TempDir(), []string{"VIDSEG_MODEL=" + model}, "bench", clip, "--objects", "1", "--frames", "1", "--warmup", "7", "--json")
	expect(t, r7, 0, "")
	var rep7 bench.Report
	if err := json.Unmarshal([]byte(r7.stdout), &rep7); err != nil {
		t.Fatalf("bench --warmup 7 --json: %v\n%s", err, r7.stdout)
	}
	if w := rep7.Runs[0]; w.Warmup != 7 || w.Frames != 1 {
		t.Errorf("--warmup 7: run %+v, want 7 warm-up frames and 1 timed", w)
	}
	for _, s := range bench.Stages {
		v, ok := run.MsPerFrm[s]
		if !ok || v < 0 {
			t.Errorf("stage %s: %v (present %v)", s, v, ok)
		}
	}
	if run.MsPerFrm["encoder"] <= 0 || run.MsPerFrm["decoder"] <= 0 {
		t.Errorf("model stages not timed: %v", run.MsPerFrm)
	}
	// One run of each graph per tracked frame; the bytes copied counted.
	for _, g := range []string{"encoder", "memory_attention", "decoder", "memory_encoder"} {
		if c := run.CallsPerFrm[g]; c != 1 {
			t.Errorf("%s: %v runs per frame, want 1 (%v)", g, c, run.CallsPerFrm)
		}
	}
	if run.CopiedPerFrm == nil || *run.CopiedPerFrm <= 0 {
		t.Errorf("copied_bytes_per_frame missing: %+v", run)
	}
	// The stages (Go's own work included) share out the timed frames'
	// wall time; the warm-up frames are in none of them.
	sum := 0.0
	for _, s := range bench.Stages {
		sum += run.MsPerFrm[s]
	}
	if wall := run.Seconds * 1000 / float64(run.Frames); sum > wall*1.01+1 {
		t.Errorf("stages add up to %.1f ms per frame, more than the %.1f ms measured: %v", sum, wall, run.MsPerFrm)
	}
}

// TestBenchShortClip asks for more frames than a 4-frame clip has: the
// report says how many were timed.
func TestBenchShortClip(t *testing.T) {
	model := testutil.SmallModel(t)
	clip := testutil.Clip(t, "moving_shape")
	if testing.Short() || ortLib(t) == "" {
		t.Skip("runs the model (needs the ONNX Runtime library; not in -short)")
	}
	dir := t.TempDir()
	short := filepath.Join(dir, "short.mp4")
	testutil.FFmpeg(t, "-i", clip, "-frames:v", "4", "-c:v", "libx264", short)
	r := vidseg(t, dir, []string{"VIDSEG_MODEL=" + model}, "bench", short, "--objects", "1", "--frames", "5")
	expect(t, r, 0, "the clip ended after 2 timed frames of the 5 asked")
	if !strings.Contains(r.stdout, "only 2 of the 5 frames asked were timed") || !strings.Contains(r.stdout, "2 untimed warm-up frames") {
		t.Errorf("table does not say what was timed:\n%s", r.stdout)
	}
}

// TestTrackBF16Attention checks that --attention and --matmul reach the
// model: bf16 opens the image encoder and memory attention with vidseg's
// operators and tracks; an unknown value is a usage error. The numbers are
// sam's tests' (TestBF16AttentionParity, TestBF16MatMulParity) and the
// trace sessions'.
func TestTrackBF16Attention(t *testing.T) {
	model, video := trackSetup(t)
	dir := t.TempDir()
	envModel := []string{"VIDSEG_MODEL=" + model}
	r := vidseg(t, dir, envModel, "track", video, "--point", "60,60", "--frames", "2", "--attention", "fp8", "--out", "x")
	expect(t, r, cli.ExitUsage, `attention "fp8"`)
	r = vidseg(t, dir, envModel, "track", video, "--point", "60,60", "--frames", "2", "--matmul", "int4", "--out", "x")
	expect(t, r, cli.ExitUsage, `matmul "int4"`)
	if !sam.CPUHasBF16() {
		// The portable kernels take minutes per frame at the fixture's size.
		t.Skip("this CPU has no AVX-512 BF16: not tracking with the bf16 operators")
	}

	r = vidseg(t, dir, append(envModel, "VIDSEG_ATTENTION=bf16"), "track", video, "--point", "60,60", "--frames", "2",
		"--matmul", "bf16", "--no-overlay", "-v", "--out", filepath.Join(dir, "out"))
	expect(t, r, 0, "attention=bf16 matmul=bf16")
	if !strings.Contains(r.stdout, "over 2 frames") {
		t.Errorf("track summary:\n%s", r.stdout)
	}
}

// TestTrackEdgeTAM tracks two objects forward and backward with the
// EdgeTAM fixture through the command line (nothing else changes for a
// user), also with --matmul bf16.
func TestTrackEdgeTAM(t *testing.T) {
	_, video := trackSetup(t)
	model := testutil.EdgeTAMModel(t)
	dir := t.TempDir()
	r := vidseg(t, dir, nil, "track", video, "--model", model, "--point", "60,60", "--box", "150,60,250,160#2",
		"--frames", "3", "--both", "--mode", "sam2", "--no-overlay", "--out", filepath.Join(dir, "out"))
	expect(t, r, 0, "model edgetam")
	if !strings.Contains(r.stdout, "tracked 2 object(s) over 3 frames") {
		t.Errorf("track summary:\n%s", r.stdout)
	}
	for _, f := range []string{"masks/00000.png", "masks/00002.png", "tracks.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
			t.Error(err)
		}
	}
	// bf16 weight products run RepViT's 1x1 convolutions in vidseg's
	// operators (a CPU without AVX-512 BF16 runs float32 and says so).
	r = vidseg(t, dir, nil, "track", video, "--model", model, "--point", "60,60", "--frames", "2",
		"--matmul", "bf16", "--no-overlay", "--out", filepath.Join(dir, "bf16"))
	expect(t, r, 0, "model edgetam")
	if !strings.Contains(r.stdout, "tracked 1 object(s) over 2 frames") {
		t.Errorf("track summary with --matmul bf16:\n%s", r.stdout)
	}
}
