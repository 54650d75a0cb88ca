package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/results"
)

const runFormat = "vidseg-run/1"

// RunRecord is run.json: what `vidseg track --resume DIR` needs to redo
// an interrupted run exactly as it was started.
type RunRecord struct {
	Format     string          `json:"format"`
	Input      string          `json:"input"`
	Limit      int             `json:"frames_limit,omitempty"` // --frames
	Mode       string          `json:"mode"`
	Model      string          `json:"model"`
	Reverse    bool            `json:"reverse,omitempty"`
	Both       bool            `json:"both,omitempty"`
	BothEnds   bool            `json:"both_ends,omitempty"`
	NonOverlap bool            `json:"non_overlap,omitempty"`
	NoOverlay  bool            `json:"no_overlay,omitempty"`
	Prompts    []prompt.Prompt `json:"prompts"` // masks as source-size COCO RLE
	// Present is the object score above which an object counts as
	// present in this mode (tracks.jsonl "present").
	Present float32 `json:"present_above"`
	// FillHoles is the run's fill_holes; absent in runs recorded before
	// hole filling existed, which had none.
	FillHoles *int `json:"fill_holes,omitempty"`
}

// SaveRun writes DIR/run.json atomically.
func SaveRun(dir string, r *RunRecord) error {
	r.Format = runFormat
	return results.WriteFileAtomic(filepath.Join(dir, results.RunFile), func(w io.Writer) error {
		return WriteJSON(w, r)
	})
}

// LoadRun reads DIR/run.json of a run to resume.
func LoadRun(dir string) (*RunRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, results.RunFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, InputErr(fmt.Errorf("track --resume %s: no %s there: not a folder `vidseg track` wrote", dir, results.RunFile))
	}
	if err != nil {
		return nil, InputErr(fmt.Errorf("track --resume: %w", err))
	}
	var r RunRecord
	if err := json.Unmarshal(data, &r); err != nil || r.Format != runFormat {
		return nil, InputErr(fmt.Errorf("track --resume: %s is not a %s record (%v)", filepath.Join(dir, results.RunFile), runFormat, err))
	}
	if _, err := os.Stat(filepath.Join(dir, results.MasksLog)); errors.Is(err, os.ErrNotExist) {
		return nil, InputErr(fmt.Errorf("track --resume %s: the run there finished (no %s): nothing to resume", dir, results.MasksLog))
	}
	return &r, nil
}

// PrepareOut refuses a non-empty output folder, whose older results would
// mix with the new ones (eval would score stale masks), unless overwrite;
// then it clears it, but only of what a track run writes: a folder with
// other files in it is never emptied.
func PrepareOut(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil
	}
	if err != nil {
		return Usagef("track: --out %s: %v", dir, err)
	}
	if !overwrite {
		if _, err := os.Stat(filepath.Join(dir, results.RunFile)); err == nil {
			return Usagef("track: --out %s is not empty: pass --overwrite to replace its results, --resume %s to continue an interrupted run, or choose another folder", dir, dir)
		}
		return Usagef("track: --out %s is not empty: pass --overwrite to replace the results of an earlier run there, or choose another folder", dir)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".part")
		if !slices.Contains(results.OutputNames, name) {
			return Usagef("track: --out %s holds %s, which `vidseg track` does not write: not clearing it; choose another folder", dir, e.Name())
		}
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("track: clear --out: %w", err)
		}
	}
	return nil
}
