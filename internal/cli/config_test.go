package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/web"
)

func testEnv(vars map[string]string) *Env {
	var out, errb bytes.Buffer
	return &Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
}

// resolve loads Settings and parses flags as a command does.
func resolve(t *testing.T, vars map[string]string, args ...string) *Settings {
	t.Helper()
	e := testEnv(vars)
	s, err := LoadSettings(e, args)
	if err != nil {
		t.Fatal(err)
	}
	fs := NewFlags(e, "x", "x", "x", "")
	ConfigFlag(fs)
	s.Flag(fs, "model", "provider", "threads")
	if _, err := fs.ParseArgs(args); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".config", "vidseg"), 0o755)
	os.WriteFile(filepath.Join(home, ".config", "vidseg", "config.json"),
		[]byte(`{"model": "from-config", "provider": "cpu", "threads": 3}`), 0o644)

	s := resolve(t, map[string]string{"HOME": home})
	if s.Get("model") != "from-config" || s.Get("threads") != "3" || s.Get("mode") != "samurai" {
		t.Errorf("config < defaults: %v", s.values)
	}
	if !strings.HasPrefix(s.Source("model"), "config ") || s.Source("mode") != "default" {
		t.Errorf("sources %v", s.from)
	}

	s = resolve(t, map[string]string{"HOME": home, "VIDSEG_MODEL": "from-env"})
	if s.Get("model") != "from-env" || s.Get("provider") != "cpu" {
		t.Errorf("env over config: %v", s.values)
	}

	s = resolve(t, map[string]string{"HOME": home, "VIDSEG_MODEL": "from-env"}, "--model", "from-flag", "pos")
	if s.Get("model") != "from-flag" || s.Source("model") != "flag" {
		t.Errorf("flag over env: %v %v", s.values, s.from)
	}

	// --config and VIDSEG_CONFIG replace the default file; key=value works.
	kv := filepath.Join(dir, "other.conf")
	os.WriteFile(kv, []byte("# a comment\n\nmodel = \"kv model\"\nort-lib=/x/lib.so\n"), 0o644)
	s = resolve(t, map[string]string{"HOME": home}, "--config", kv)
	if s.Get("model") != "kv model" || s.Get("ort_lib") != "/x/lib.so" || s.Get("threads") != "0" {
		t.Errorf("--config key=value: %v", s.values)
	}
	s = resolve(t, map[string]string{"HOME": home, "VIDSEG_CONFIG": kv})
	if s.Get("model") != "kv model" {
		t.Errorf("VIDSEG_CONFIG: %v", s.values)
	}
	s = resolve(t, map[string]string{"HOME": home}, "--config="+kv)
	if s.Get("model") != "kv model" {
		t.Errorf("--config=FILE: %v", s.values)
	}
	// The default store lives under the user's data directory.
	if want := filepath.Join(home, ".local", "share", "vidseg", "sessions.db"); s.Get("store") != want {
		t.Errorf("store %q, want %q", s.Get("store"), want)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	cases := map[string]string{
		write("bad.json", `{"model": `):        "invalid JSON",
		write("key.json", `{"modle": "x"}`):    `unknown key "modle"`,
		write("type.json", `{"model": ["x"]}`): "string, number or boolean",
		write("line.conf", "model x\n"):        "line.conf:1: want key = value",
		filepath.Join(dir, "missing.conf"):     "no such file",
	}
	for path, want := range cases {
		_, err := LoadSettings(testEnv(nil), []string{"--config", path})
		if err == nil || !strings.Contains(err.Error(), want) || ExitCode(err) != ExitUsage {
			t.Errorf("%s: %v (exit %d), want %q and exit 2", filepath.Base(path), err, ExitCode(err), want)
		}
	}
	// A missing default config file is fine.
	if _, err := LoadSettings(testEnv(map[string]string{"HOME": dir}), nil); err != nil {
		t.Errorf("missing default config: %v", err)
	}
	s := resolve(t, map[string]string{"VIDSEG_THREADS": "many"})
	if _, err := s.Int("threads"); err == nil || !strings.Contains(err.Error(), "env VIDSEG_THREADS") {
		t.Errorf("bad threads: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "500MB": 500e6, "2GiB": 2 << 30, "3 KiB": 3072, "7B": 7} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-5", "1.5GB", "GB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := NewProgress(&buf, "track", 10)
	p.now = func() time.Time { return clock }
	p.start = clock
	for range 10 {
		clock = clock.Add(time.Second)
		p.Add(1)
	}
	p.Done()
	out := buf.String()
	// Not a terminal: plain lines every 5 s and at the end, no escapes.
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\r") {
		t.Errorf("escape codes in piped output: %q", out)
	}
	for _, want := range []string{"track: 1/10 frames, 1.00 frames/s, 0:09 left", "track: 6/10 frames, 1.00 frames/s, 0:04 left", "track: 10/10 frames", "track: 10 frames in 0:10 (1.00 frames/s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}
}

// TestTrackerSettings: the corrections and hole-filling settings reach the
// tracker preset; --corrections-as-cond alone means true; bad values are
// usage errors naming the setting.
func TestTrackerSettings(t *testing.T) {
	parse := func(vars map[string]string, args ...string) (tracker.Config, error) {
		t.Helper()
		e := testEnv(vars)
		s, err := LoadSettings(e, args)
		if err != nil {
			t.Fatal(err)
		}
		fs := NewFlags(e, "x", "x", "x", "")
		s.Flag(fs, "corrections_as_cond", "fill_holes")
		if _, err := fs.ParseArgs(args); err != nil {
			return tracker.Config{}, err
		}
		tune, err := TrackerSettings(s)
		if err != nil {
			return tracker.Config{}, err
		}
		c := tracker.FilePreset(tracker.SAM2)
		tune(&c)
		return c, nil
	}
	for _, tc := range []struct {
		vars   map[string]string
		args   []string
		asCond bool
		area   int
	}{
		{nil, nil, true, tracker.DefaultFillHoleArea},
		{nil, []string{"--corrections-as-cond=false", "--fill-holes", "0"}, false, 0},
		{map[string]string{"VIDSEG_CORRECTIONS_AS_COND": "false"}, []string{"--corrections-as-cond"}, true, 8},
		{map[string]string{"VIDSEG_FILL_HOLES": "20"}, nil, true, 20},
	} {
		c, err := parse(tc.vars, tc.args...)
		if err != nil || c.CorrectionsAsCond != tc.asCond || c.FillHoleArea != tc.area {
			t.Errorf("%v %v: corrections as cond %v, fill %d, %v; want %v, %d", tc.vars, tc.args, c.CorrectionsAsCond, c.FillHoleArea, err, tc.asCond, tc.area)
		}
	}
	for _, args := range [][]string{{"--fill-holes", "-1"}, {"--fill-holes", "x"}, {"--corrections-as-cond=maybe"}} {
		_, err := parse(nil, args...)
		if err == nil || (!strings.Contains(err.Error(), "fill_holes") && !strings.Contains(err.Error(), "corrections")) {
			t.Errorf("%v: got %v, want an error naming the setting", args, err)
		}
	}
}

// The prompt limits reach serve's web.Config from the environment (or flag,
// or config file); 0 turns one off, a bad value is a usage error.
func TestSessionLimitsPromptTime(t *testing.T) {
	s := resolve(t, map[string]string{"VIDSEG_PROMPT_TIMEOUT": "2m", "VIDSEG_PROMPT_BUDGET": "0"})
	var cfg web.Config
	if err := SessionLimits(s, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.PromptTimeout != 2*time.Minute || cfg.PromptBudget >= 0 {
		t.Errorf("prompt timeout %v, budget %v; want 2m and none (< 0)", cfg.PromptTimeout, cfg.PromptBudget)
	}
	s = resolve(t, map[string]string{"VIDSEG_PROMPT_TIMEOUT": "soon"})
	if err := SessionLimits(s, &cfg); err == nil || !strings.Contains(err.Error(), "prompt timeout") {
		t.Errorf("bad prompt timeout: %v", err)
	}
}

// Live discovery reaches serve's web.Config from the environment (or
// flag, or config file): off by default, on with a duration.
func TestDiscoverySettings(t *testing.T) {
	var cfg web.Config
	if err := Discovery(resolve(t, nil), &cfg); err != nil || cfg.Discovery != nil {
		t.Fatalf("default: %v, %+v; want discovery off", err, cfg.Discovery)
	}
	s := resolve(t, map[string]string{"VIDSEG_DISCOVER_EVERY": "10s", "VIDSEG_DISCOVER_MAX_OBJECTS": "5", "VIDSEG_DISCOVER_DROP_AFTER": "0"})
	if err := Discovery(s, &cfg); err != nil {
		t.Fatal(err)
	}
	if d := cfg.Discovery; d == nil || d.Every != 10*time.Second || d.MaxObjects != 5 || d.DropAfter != 0 || d.Params.PointsPerSide != 32 {
		t.Errorf("discovery %+v; want every 10s, 5 objects, never dropped, the generator's defaults", d)
	}
	for env, want := range map[string]string{"VIDSEG_DISCOVER_EVERY": "discover every", "VIDSEG_DISCOVER_MAX_OBJECTS": "discover max objects"} {
		s := resolve(t, map[string]string{"VIDSEG_DISCOVER_EVERY": "10s", env: "-3"})
		if err := Discovery(s, &cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=-3: %v, want an error naming %q", env, err, want)
		}
	}
}
