package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/vidseg/vidseg"

// webUsers may depend on package web: the commands that serve it.
var webUsers = []string{
	module + "/web",
	module + "/internal/cli",
	module + "/cmd/vidseg",
}

// httpUsers may import net/http, each for a reason; every other package
// is below the HTTP layer.
var httpUsers = map[string]string{
	module + "/web":               "the HTTP face: routes, auth, uploads, WHEP/WHIP signalling, SSE",
	module + "/cluster":           "the front end's cluster routes (Relay.Routes)",
	module + "/stream":            "the WHEP handler (stream.WHEP) web mounts",
	module + "/events":            "the webhook sink, an HTTP client",
	module + "/source":            "fetches http(s) sources, an HTTP client",
	module + "/internal/cli":      "vidseg serve listens",
	module + "/internal/livetest": "test helper: HTTP/RTSP sources for tests",
	module + "/internal/testutil": "test helper: WHEP viewers for tests",
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list is `go list -deps=false -json ./...` over the module.
func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; is the test run inside the module?", len(pkgs))
	}
	return pkgs
}

// TestImportRules fails when a package below the HTTP layer depends on
// package web (directly or through another package) or imports net/http.
func TestImportRules(t *testing.T) {
	web := module + "/web"
	for _, p := range list(t) {
		if !slices.Contains(webUsers, p.ImportPath) && slices.Contains(p.Deps, web) {
			t.Errorf("%s depends on %s: only %s may (the session engine is package session)", p.ImportPath, web, strings.Join(webUsers, ", "))
		}
		if _, ok := httpUsers[p.ImportPath]; !ok && slices.Contains(p.Imports, "net/http") {
			t.Errorf("%s imports net/http: it is below the HTTP layer (docs/architecture.md); serve it from package web", p.ImportPath)
		}
	}
}

// TestRulesNameRealPackages keeps the allow-lists from naming packages
// that were moved or removed.
func TestRulesNameRealPackages(t *testing.T) {
	have := map[string]bool{}
	for _, p := range list(t) {
		have[p.ImportPath] = true
	}
	for _, p := range webUsers {
		if !have[p] {
			t.Errorf("webUsers names %s, which is not a package of the module", p)
		}
	}
	for p := range httpUsers {
		if !have[p] {
			t.Errorf("httpUsers names %s, which is not a package of the module", p)
		}
	}
}
