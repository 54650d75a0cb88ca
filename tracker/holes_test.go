package tracker

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/npy"
)

// TestFillHolesMatchesOfficial checks the hole filling against the official
// fill_holes_in_mask_scores on crafted masks (tracker/testdata/
// fill_holes.npz, made by tools/export/holes_ref.py: the official function
// with a CPU stand-in for its CUDA connected components): region sizes
// around the limit, diagonal neighbours, exact zeros, regions on the
// border, and speckle like the random-weight fixture's masks.
func TestFillHolesMatchesOfficial(t *testing.T) {
	arrays, err := npy.ReadNPZ(filepath.Join("testdata", "fill_holes.npz"))
	if err != nil {
		t.Fatal(err)
	}
	maxArea := int(arrays["max_area"].I64[0])
	var names []string
	for k := range arrays {
		if name, ok := strings.CutSuffix(k, "_in"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) < 4 {
		t.Fatalf("fill_holes.npz holds %d cases, want 4", len(names))
	}
	var h holeFiller
	for _, name := range names {
		in, want := arrays[name+"_in"], arrays[name+"_out"]
		size := in.Shape[0]
		got := append([]float32(nil), in.F32...)
		h.fill(got, size, maxArea)
		filled, diff := 0, 0
		for i := range got {
			if want.F32[i] != in.F32[i] {
				filled++
			}
			if got[i] != want.F32[i] {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%s: %d of %d pixels differ from the official output (%d filled there)", name, diff, len(got), filled)
		}
		if filled == 0 {
			t.Errorf("%s: the official function filled nothing: the case tests nothing", name)
		}
	}
	// Off means off.
	in := arrays[names[0]+"_in"]
	got := append([]float32(nil), in.F32...)
	h.fill(got, in.Shape[0], 0)
	if !slices.Equal(got, in.F32) {
		t.Error("FillHoleArea 0 changed the mask")
	}
}
