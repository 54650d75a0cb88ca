package prompt

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/mask"
)

// Issue 24, item 1: the limits hold for the command line's prompts too.
func TestCheckLimits(t *testing.T) {
	ps := NewSet()
	for i := range MaxPoints + 1 {
		if err := ps.AddPoint(fmt.Sprintf("%d,10", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ps.Resolve(320, 240); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("65 --point on one object and frame: %v, want the limit", err)
	}
	full := mask.RLE{Width: 4, Height: 2, Counts: []uint32{3, 5}}
	for _, c := range []struct {
		p  Prompt
		ok bool
	}{
		{Prompt{Points: make([]Point, MaxPoints)}, true},
		{Prompt{Points: []Point{{X: float32(math.NaN())}}}, false},
		{Prompt{Box: &mask.Box{X0: float32(math.Inf(1))}}, false},
		{Prompt{Mask: &full}, true},
		{Prompt{Mask: &mask.RLE{Width: 4, Height: 3, Counts: []uint32{12}}}, false},                  // another size
		{Prompt{Mask: &mask.RLE{Width: 4, Height: 2, Counts: []uint32{3}}}, false},                   // runs short of the size
		{Prompt{Mask: &mask.RLE{Width: 4, Height: 2, Counts: append(make([]uint32, 20), 8)}}, false}, // zero runs
		{Prompt{Mask: &full, Points: []Point{{}}}, false},                                            // a mask alone
		{Prompt{Object: -1, Points: []Point{{}}}, false},
	} {
		if err := c.p.Check(4, 2); (err == nil) != c.ok {
			t.Errorf("Check(%+v) = %v, want ok %v", c.p, err, c.ok)
		}
	}
	if err := CheckAdded(1, 3, 60, 5); err == nil {
		t.Error("60 + 5 points on one object and frame accepted")
	}
}
