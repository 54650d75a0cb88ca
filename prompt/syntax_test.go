package prompt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

func TestPromptSyntax(t *testing.T) {
	ps := NewSet()
	for _, s := range []string{"10,20", "30,40,neg@5#2", "1.5,2.5,+#2@5", "7,8,0"} {
		if err := ps.AddPoint(s); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	if err := ps.AddBox("1,2,30,40@5#2"); err != nil {
		t.Fatal(err)
	}
	list, err := ps.Resolve(100, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("prompts %+v, want two (frame 0 object 1, frame 5 object 2)", list)
	}
	p0, p1 := list[0], list[1]
	if p0.Frame != 0 || p0.Object != 1 || len(p0.Points) != 2 || !p0.Points[0].Positive || p0.Points[1].Positive {
		t.Errorf("frame 0: %+v", p0)
	}
	if p1.Frame != 5 || p1.Object != 2 || len(p1.Points) != 2 || p1.Points[0].Positive || !p1.Points[1].Positive ||
		p1.Box == nil || p1.Box.X1 != 30 || p1.Points[1].X != 1.5 {
		t.Errorf("frame 5: %+v", p1)
	}
	if err := ps.AddBox("1,2,3,4@5#2"); err == nil {
		t.Error("second box for one object and frame accepted")
	}
}

func TestMaskPrompt(t *testing.T) {
	gt := filepath.Join(testutil.RepoRoot(t), "testdata", "videos", "crossing", "masks", "00000.png")
	if _, err := os.Stat(gt); err != nil {
		t.Skip("generated clip testdata/videos/crossing absent")
	}
	ps := NewSet()
	ps.AddMask(gt)          // every label an object
	ps.AddMask(gt + "@3#7") // all labels as object 7 on frame 3
	list, err := ps.Resolve(320, 240)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Object != 1 || list[1].Object != 2 || list[2].Object != 7 || list[2].Frame != 3 {
		t.Fatalf("mask prompts %+v", list)
	}
	if a, b, c := list[0].Mask.Area(), list[1].Mask.Area(), list[2].Mask.Area(); a == 0 || b == 0 || c != a+b {
		t.Errorf("mask areas %d + %d vs union %d", a, b, c)
	}
	if _, err := newSetWith(t, gt).Resolve(640, 480); err == nil || errors.As(err, new(*FileError)) {
		t.Errorf("mask of the wrong size: %v", err)
	}
	if _, err := newSetWith(t, "nope.png").Resolve(320, 240); !errors.As(err, new(*FileError)) {
		t.Errorf("missing mask: %v", err)
	}
}

func newSetWith(t *testing.T, mask string) *Set {
	ps := NewSet()
	if err := ps.AddMask(mask); err != nil {
		t.Fatal(err)
	}
	return ps
}
