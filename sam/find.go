package sam

import (
	"os"
	"path/filepath"
	"slices"
)

// FixtureDir is where the repository bundles its random-weight test model.
const FixtureDir = "testdata/model/sam2.1_hiera_t_random"

// Found is a model directory and why it was chosen.
type Found struct {
	Dir    string
	From   string // "flag", "env VIDSEG_MODEL", "config ...", "./models", "fixture"
	Random bool   // random weights: the bundled fixture, or a manifest saying so
}

// FindModel looks for a model when none is configured: the first
// directory (by name) holding a manifest in the first of modelDirs that
// has one (./models, then the installed models), else the bundled
// fixture (FixtureDir) under one of roots. ok is false when there is none.
func FindModel(modelDirs, roots []string) (f Found, ok bool) {
	for _, models := range modelDirs {
		entries, err := os.ReadDir(models)
		if err != nil {
			continue
		}
		var names []string
		for _, e := range entries {
			// Stat, not e.IsDir: an installed model may be a link.
			if fi, err := os.Stat(filepath.Join(models, e.Name())); err == nil && fi.IsDir() {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			dir := filepath.Join(models, n)
			if hasManifest(dir) {
				from := models
				if models == "models" {
					from = "./models"
				}
				return Found{Dir: dir, From: from}, true
			}
		}
	}
	for _, root := range roots {
		if dir := filepath.Join(root, FixtureDir); hasManifest(dir) {
			return Found{Dir: dir, From: "fixture", Random: true}, true
		}
	}
	return Found{}, false
}

func hasManifest(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "manifest.json"))
	return err == nil
}
