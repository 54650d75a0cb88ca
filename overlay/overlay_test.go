package overlay

import (
	"strings"
	"testing"
)

func TestCompositeRejectsBadSizes(t *testing.T) {
	rgb := make([]byte, 4*2*3)
	for _, c := range []struct {
		name string
		w, h int
		rgb  []byte
		m    []ObjectMask
		want string
	}{
		{"zero size", 0, 2, rgb, nil, "bad size"},
		{"short frame", 4, 3, rgb, nil, "want 36"},
		{"short mask", 4, 2, rgb, []ObjectMask{{ID: 3, Mask: make([]byte, 7)}}, "object 3"},
	} {
		err := Composite(c.rgb, c.w, c.h, c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// Interior pixels blend, edge pixels take the full color.
	m := make([]byte, 5*5)
	for y := 1; y < 4; y++ {
		for x := 1; x < 4; x++ {
			m[y*5+x] = 1
		}
	}
	f := make([]byte, 5*5*3)
	if err := Composite(f, 5, 5, []ObjectMask{{ID: 2, Mask: m}}); err != nil {
		t.Fatal(err)
	}
	c := Color(2)
	if got := f[(1*5+1)*3 : (1*5+1)*3+3]; got[0] != c[0] || got[1] != c[1] || got[2] != c[2] {
		t.Errorf("contour pixel %v, want %v", got, c)
	}
	if got := f[(2*5+2)*3+1]; got != uint8(uint32(c[1])*Alpha>>8) {
		t.Errorf("interior green %d, want %d", got, uint32(c[1])*Alpha>>8)
	}
	if f[0] != 0 {
		t.Error("pixel outside the mask changed")
	}
}
