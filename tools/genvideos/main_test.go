package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestDeterministic regenerates every clip and requires the committed
// testdata/videos to match byte for byte (masks, clip.json and video.mp4),
// and a second run of one clip to match the first. A video mismatch with
// identical masks means the FFmpeg/x264 build changed: regenerate.
func TestDeterministic(t *testing.T) {
	committed := filepath.Join("..", "..", "testdata", "videos")
	a, b := t.TempDir(), t.TempDir()
	if err := generate(a, ""); err != nil {
		t.Fatal(err)
	}
	if err := generate(b, "occlusion"); err != nil {
		t.Fatal(err)
	}
	same(t, filepath.Join(a, "occlusion", "video.mp4"), filepath.Join(b, "occlusion", "video.mp4"))

	for _, c := range clips() {
		files := []string{"clip.json", "video.mp4"}
		for i := 0; i < frames; i++ {
			files = append(files, filepath.Join("masks", fmtFrame(i)))
		}
		for _, f := range files {
			same(t, filepath.Join(a, c.name, f), filepath.Join(committed, c.name, f))
		}
	}
}

func fmtFrame(i int) string { return sprintf5(i) + ".png" }

func sprintf5(i int) string {
	s := []byte("00000")
	for k := 4; k >= 0 && i > 0; k-- {
		s[k] = byte('0' + i%10)
		i /= 10
	}
	return string(s)
}

func same(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run go run ./tools/genvideos -out testdata/videos)", err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// TestMasks checks the ground truth's shape: indexed PNGs whose ids are the
// clip's objects, and the occlusion clip's object hidden behind the pillar.
func TestMasks(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "videos")
	check := func(clip string, i int) map[uint8]int {
		f, err := os.Open(filepath.Join(dir, clip, "masks", sprintf5(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		pal, ok := m.(interface{ ColorIndexAt(x, y int) uint8 })
		if !ok {
			t.Fatalf("%s mask %d is %T, want an indexed PNG", clip, i, m)
		}
		counts := map[uint8]int{}
		r := m.Bounds()
		if r.Dx() != width || r.Dy() != height {
			t.Fatalf("%s mask %d is %v", clip, i, r)
		}
		for y := 0; y < height; y++ {
			for x := 0; x < width; x++ {
				counts[pal.ColorIndexAt(x, y)]++
			}
		}
		return counts
	}
	if c := check("occlusion", 33); c[1] != 0 {
		t.Errorf("occlusion frame 33: object visible (%d px) while behind the pillar", c[1])
	}
	if c := check("occlusion", 0); c[1] < 700 {
		t.Errorf("occlusion frame 0: object has %d px, want a full disc (~800)", c[1])
	}
	if c := check("crossing", 0); c[1] != 36*36 || c[2] != 36*36 {
		t.Errorf("crossing frame 0: ids %v, want two 36x36 squares", c)
	}
	if c := check("crossing", 32); c[2] != 36*36 || c[1] >= 36*36 {
		t.Errorf("crossing frame 32: %v, want id 2 whole and in front of id 1", c)
	}
}
