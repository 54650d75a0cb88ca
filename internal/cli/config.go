package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/tracker"
)

// A setting is a value that flags, environment variables and the config
// file can all give; the first of those wins, then the default.
type setting struct {
	key, env, def, help string
}

var settingTable = []setting{
	{"model", "VIDSEG_MODEL", "", "model `DIR` (manifest.json + ONNX graphs)"},
	{"ort_lib", "VIDSEG_ORT_LIB", "", "ONNX Runtime shared library `FILE` (unset: searched for; see vidseg doctor)"},
	{"provider", "VIDSEG_PROVIDER", "auto", "execution `PROVIDER`: auto, cpu or cuda"},
	{"threads", "VIDSEG_THREADS", "0", "ONNX Runtime intra-op `THREADS`; 0 lets ONNX Runtime choose"},
	{"mode", "VIDSEG_MODE", "samurai", "tracking `MODE`: samurai or sam2"},
	{"attention", "VIDSEG_ATTENTION", "fp32", "attention `PRECISION`: fp32, or bf16 (CPUs with AVX-512 BF16: faster, masks differ slightly)"},
	{"matmul", "VIDSEG_MATMUL", "fp32", "weight product `PRECISION` (linear layers, 1x1 convolutions): fp32, or bf16 (CPUs with AVX-512 BF16: faster, masks differ slightly)"},
	{"resident", "VIDSEG_RESIDENT", "auto", "keep the image encoder's features inside ONNX Runtime, on the provider's device, between graphs (IO binding): `MODE` auto (on with CUDA), on or off"},
	{"corrections_as_cond", "VIDSEG_CORRECTIONS_AS_COND", "true", "a correction (a prompt on a frame already tracked) becomes a conditioning frame that every later frame attends to; false: the official predictor's default, where the next propagation recomputes that frame and drops the correction (docs/cli.md \"Corrections\")"},
	{"fill_holes", "VIDSEG_FILL_HOLES", "8", "fill mask holes of at most `PIXELS` pixels of the low-resolution mask (256x256 for a 1024-px model), as the official predictor does on CUDA (fill_hole_area); 0 = off, as it does on CPU"},
	{"addr", "VIDSEG_ADDR", "127.0.0.1:8080", "serve: listen `ADDR` (other machines need an explicit one)"},
	{"token", "VIDSEG_TOKEN", "", "serve: access `TOKEN` (default: generated when not on loopback)"},
	{"media_root", "VIDSEG_MEDIA_ROOT", "", "serve: `DIR` whose videos clients may open (default: none)"},
	{"max_sessions", "VIDSEG_MAX_SESSIONS", "8", "serve: most `SESSIONS` at once"},
	{"pause_after", "VIDSEG_PAUSE_AFTER", "10s", "serve: a session without viewers pauses after this `DURATION`"},
	{"idle_timeout", "VIDSEG_IDLE_TIMEOUT", "5m", "serve: a session nobody watches or prompts is closed after this `DURATION`"},
	{"prompt_timeout", "VIDSEG_PROMPT_TIMEOUT", "30s", "serve: a prompt whose model time passes this `DURATION` is refused (0: no limit; raise it for large models on a CPU)"},
	{"prompt_budget", "VIDSEG_PROMPT_BUDGET", "20s", "serve: model `DURATION` a session's prompts may take per minute (0: no limit)"},
	{"discover_every", "VIDSEG_DISCOVER_EVERY", "0", "serve: live discovery: segment everything on each live session (cameras included) every `DURATION` and track the masks no object covers as new objects (0: off)"},
	{"discover_max_objects", "VIDSEG_DISCOVER_MAX_OBJECTS", "32", "serve: live discovery adds objects while a session has fewer than `N`"},
	{"discover_drop_after", "VIDSEG_DISCOVER_DROP_AFTER", "1m", "serve: live discovery drops an object it added once it has been lost this `DURATION` (0: never)"},
	{"store", "VIDSEG_STORE", "", "serve/sessions: session database `FILE`"},
	{"codec", "VIDSEG_CODEC", "vp8", "serve: WebRTC video `CODEC`, vp8 or h264"},
	{"upload_limit", "VIDSEG_UPLOAD_LIMIT", "2GiB", "serve: largest accepted upload `SIZE` (bytes, or with KB/MB/GB/KiB/MiB/GiB)"},
}

const envConfig = "VIDSEG_CONFIG"

// ConfigHelp is `vidseg help config`.
var ConfigHelp = func() string {
	var b strings.Builder
	b.WriteString(`Configuration

Each setting comes from, in order of precedence: a flag (--model),
an environment variable (VIDSEG_MODEL), the config file, the default.

Config file: --config FILE, else $VIDSEG_CONFIG, else
~/.config/vidseg/config.json ($XDG_CONFIG_HOME/vidseg/config.json) when it
exists. It is either a JSON object:
  {"model": "models/sam2.1_hiera_t", "provider": "cpu", "threads": 2}
or key=value lines ('#' starts a comment):
  model = models/sam2.1_hiera_t
  provider = cpu

Keys (flag --key with '-' for '_'; environment variable; default):
`)
	for _, s := range settingTable {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(&b, "  %-13s %-20s %-8s %s\n", s.key, s.env, def, s.help)
	}
	b.WriteString(`  config        VIDSEG_CONFIG                 config file to read
`)
	return b.String()
}()

// Settings holds the resolved value of every setting and where it came from.
type Settings struct {
	values map[string]string
	from   map[string]string // "flag", "env VIDSEG_X", "config FILE", "default"
	file   string            // config file read, "" when none
	data   string            // userDataDir
}

// Get is the value of a setting.
func (s *Settings) Get(key string) string { return s.values[key] }

// Source says where a setting's value came from, for messages.
func (s *Settings) Source(key string) string { return s.from[key] }

// Set gives key the value v, said to come from from (a resumed run's
// record overrides the environment and config file).
func (s *Settings) Set(key, v, from string) { s.values[key], s.from[key] = v, from }

// Int is a setting as a whole number; a bad one is a usage error.
func (s *Settings) Int(key string) (int, error) {
	v := s.values[key]
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, Usagef("%s %q (from %s) is not a whole number", key, v, s.from[key])
	}
	return n, nil
}

// Threads is the ONNX Runtime thread count: 0 (its default) or more.
func (s *Settings) Threads() (int, error) {
	n, err := s.Int("threads")
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, Usagef("threads %d (from %s) is negative: want 0 (ONNX Runtime's default) or a count", n, s.from["threads"])
	}
	return n, nil
}

// LoadSettings resolves env, config file and defaults. args are scanned for
// --config only; the command's own flags come later, through flag().
func LoadSettings(e *Env, args []string) (*Settings, error) {
	s := &Settings{values: map[string]string{}, from: map[string]string{}, data: userDataDir(e)}
	for _, st := range settingTable {
		s.values[st.key], s.from[st.key] = st.def, "default"
	}
	path, explicit := configPath(e, args)
	if path != "" {
		vals, err := readConfig(path)
		switch {
		case err == nil:
			s.file = path
			for k, v := range vals {
				s.values[k], s.from[k] = v, "config "+path
			}
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// The default config file is optional.
		default:
			return nil, Usagef("config: %v", err)
		}
	}
	for _, st := range settingTable {
		if v := e.Getenv(st.env); v != "" {
			s.values[st.key], s.from[st.key] = v, "env "+st.env
		}
	}
	if s.values["store"] == "" {
		s.values["store"] = defaultStorePath(e)
	}
	return s, nil
}

// Flag registers --key for each setting key on fs; its default shows the
// value resolved so far, so --help tells the user what will be used.
func (s *Settings) Flag(fs *Flags, keys ...string) {
	for _, key := range keys {
		s.flag(fs, key)
	}
}

func (s *Settings) flag(fs *Flags, key string) {
	for _, st := range settingTable {
		if st.key == key {
			var v flag.Value = &settingValue{s: s, key: key}
			if st.def == "true" || st.def == "false" {
				v = boolSetting{v.(*settingValue)} // --key alone means true
			}
			fs.Var(v, strings.ReplaceAll(key, "_", "-"), st.help)
			return
		}
	}
	panic("unknown setting " + key) // programming error
}

// ConfigFlag registers --config, which LoadSettings already read.
func ConfigFlag(fs *Flags) {
	fs.String("config", "", "config file (default ~/.config/vidseg/config.json; env "+envConfig+")")
}

type settingValue struct {
	s   *Settings
	key string
}

func (v *settingValue) String() string {
	if v.s == nil {
		return ""
	}
	return v.s.values[v.key]
}

func (v *settingValue) Set(x string) error {
	v.s.values[v.key], v.s.from[v.key] = x, "flag"
	return nil
}

// boolSetting is a true/false setting's flag.
type boolSetting struct{ *settingValue }

func (boolSetting) IsBoolFlag() bool { return true }

// Bool is a true/false setting; a bad one is a usage error.
func (s *Settings) Bool(key string) (bool, error) {
	v := s.values[key]
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, Usagef("%s %q (from %s): want true or false", key, v, s.from[key])
	}
	return b, nil
}

// TrackerSettings reads corrections_as_cond and fill_holes: the official
// predictor's choices a user may make (docs/cli.md "Corrections", "Hole
// filling"), as a change to a tracker preset.
func TrackerSettings(s *Settings) (func(*tracker.Config), error) {
	asCond, err := s.Bool("corrections_as_cond")
	if err != nil {
		return nil, err
	}
	area, err := s.Int("fill_holes")
	if err != nil {
		return nil, err
	}
	if area < 0 {
		return nil, Usagef("fill_holes %d (from %s) is negative: want 0 (off) or a pixel count", area, s.from["fill_holes"])
	}
	return func(c *tracker.Config) { c.CorrectionsAsCond, c.FillHoleArea = asCond, area }, nil
}

func configPath(e *Env, args []string) (path string, explicit bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
		}
	}
	if p := e.Getenv(envConfig); p != "" {
		return p, true
	}
	dir := e.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := e.Getenv("HOME")
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "vidseg", "config.json"), false
}

// userDataDir is vidseg's data directory: $XDG_DATA_HOME/vidseg, else
// ~/.local/share/vidseg; "" without a home.
func userDataDir(e *Env) string {
	dir := e.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home := e.Getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "vidseg")
}

func defaultStorePath(e *Env) string {
	if d := userDataDir(e); d != "" {
		return filepath.Join(d, "sessions.db")
	}
	return "vidseg-sessions.db"
}

// ModelsDir is where installed models are found from any folder
// (~/.local/share/vidseg/models, where `make install MODEL=DIR` puts
// one); "" without a home.
func (s *Settings) ModelsDir() string {
	if s.data == "" {
		return ""
	}
	return filepath.Join(s.data, "models")
}

// readConfig reads a JSON object or key=value lines.
func readConfig(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var raw map[string]any
		if err := json.Unmarshal(t, &raw); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
		}
		for k, v := range raw {
			key, err := settingKey(path, k)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case string:
				out[key] = v
			case float64:
				out[key] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				out[key] = strconv.FormatBool(v)
			default:
				return nil, fmt.Errorf("%s: %q must be a string, number or boolean", path, k)
			}
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key = value, got %q", path, line, text)
		}
		key, err := settingKey(fmt.Sprintf("%s:%d", path, line), strings.TrimSpace(k))
		if err != nil {
			return nil, err
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[key] = v
	}
	return out, sc.Err()
}

func settingKey(where, k string) (string, error) {
	key := strings.ReplaceAll(strings.ToLower(k), "-", "_")
	for _, st := range settingTable {
		if st.key == key {
			return key, nil
		}
	}
	var known []string
	for _, st := range settingTable {
		known = append(known, st.key)
	}
	sort.Strings(known)
	return "", fmt.Errorf("%s: unknown key %q (known: %s)", where, k, strings.Join(known, ", "))
}

// ParseBytes reads "1048576", "512MB", "2GiB".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	for _, u := range units {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MB, 2GiB)", s)
	}
	return n * mult, nil
}
