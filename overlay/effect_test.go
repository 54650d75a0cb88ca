package overlay

import (
	"strings"
	"testing"
)

// Each effect changes what the page's does, and nothing else: inside an
// object (off its contour) the background effects and "outline" leave
// the pixel as it was; outside, "erase" makes it black, "desaturate"
// grey (Rec. 709 luma), "blur" smooths a checkerboard to its mean, and
// "outline" leaves it; every effect draws the contour in the object's
// color.
func TestRenderEffects(t *testing.T) {
	const w, h = 64, 48
	frame := func() []byte {
		rgb := make([]byte, w*h*3)
		for y := range h {
			for x := range w {
				i := 3 * (y*w + x)
				// A checkerboard of 1-px cells, red against blue.
				if (x+y)%2 == 0 {
					rgb[i], rgb[i+1], rgb[i+2] = 200, 40, 10
				} else {
					rgb[i], rgb[i+1], rgb[i+2] = 20, 60, 220
				}
			}
		}
		return rgb
	}
	m := make([]byte, w*h)
	for y := 10; y < 30; y++ {
		for x := 10; x < 40; x++ {
			m[y*w+x] = 1
		}
	}
	masks := []ObjectMask{{ID: 1, Mask: m}}
	inside, outside, contour := 3*(20*w+20), 3*(40*w+55), 3*(10*w+20)
	orig := frame()
	for _, e := range Effects {
		rgb := frame()
		if err := Render(rgb, w, h, masks, e); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		in, out := rgb[inside:inside+3], rgb[outside:outside+3]
		if c := Color(1); string(rgb[contour:contour+3]) != string(c[:]) {
			t.Errorf("%s: contour pixel %v, want the object's color %v", e, rgb[contour:contour+3], c)
		}
		if e != Highlight && string(in) != string(orig[inside:inside+3]) {
			t.Errorf("%s: inside the object %v, want it unchanged %v", e, in, orig[inside:inside+3])
		}
		if e == Highlight && string(in) == string(orig[inside:inside+3]) {
			t.Errorf("highlight: inside the object unchanged")
		}
		switch e {
		case Highlight, Outline:
			if string(out) != string(orig[outside:outside+3]) {
				t.Errorf("%s: outside %v, want unchanged %v", e, out, orig[outside:outside+3])
			}
		case Erase:
			if out[0]|out[1]|out[2] != 0 {
				t.Errorf("erase: outside %v, want black", out)
			}
		case Desaturate:
			o := orig[outside : outside+3]
			want := uint8((2126*uint32(o[0]) + 7152*uint32(o[1]) + 722*uint32(o[2]) + 5000) / 10000)
			if out[0] != want || out[1] != want || out[2] != want {
				t.Errorf("desaturate: outside %v, want grey %d", out, want)
			}
		case Blur:
			// The checkerboard's mean: (200+20)/2, (40+60)/2, (10+220)/2.
			for c, want := range []int{110, 50, 115} {
				if d := int(out[c]) - want; d < -3 || d > 3 {
					t.Errorf("blur: outside %v, want about the mean [110 50 115]", out)
					break
				}
			}
		}
	}
	// A style chosen in the page: its colour and opacity, and no contour
	// unless the effect is "outline".
	blue := &Style{Color: [3]uint8{0, 0, 255}, Alpha: 256}
	for _, e := range []Effect{Highlight, Outline, Erase} {
		rgb := frame()
		if err := Render(rgb, w, h, []ObjectMask{{ID: 1, Mask: m, Style: blue}}, e); err != nil {
			t.Fatal(err)
		}
		want := map[Effect]string{Highlight: "\x00\x00\xff", Outline: "\x00\x00\xff", Erase: string(orig[contour : contour+3])}[e]
		if got := string(rgb[contour : contour+3]); got != want {
			t.Errorf("%s with an opaque blue style, no outline: contour pixel %v, want %v", e, []byte(got), []byte(want))
		}
		if e == Highlight && string(rgb[inside:inside+3]) != "\x00\x00\xff" {
			t.Errorf("highlight with an opaque blue style: inside %v, want blue", rgb[inside:inside+3])
		}
	}
	if _, err := ParseEffect("sepia"); err == nil || !strings.Contains(err.Error(), "sepia") {
		t.Errorf("ParseEffect(sepia): %v", err)
	}
	if e, err := ParseEffect(""); err != nil || e != Highlight {
		t.Errorf("ParseEffect(\"\"): %q, %v", e, err)
	}
	if err := Render(make([]byte, 5), w, h, masks, Blur); err == nil {
		t.Error("Render of a short frame: no error")
	}
}

// A wide blur, computed at a quarter of the resolution and scaled back,
// keeps a ramp where it was (a symmetric blur leaves a linear ramp as it
// is, away from the edges), a flat channel flat, and smooths a
// checkerboard to its mean.
func TestBlurScaled(t *testing.T) {
	const w, h, r = 128, 64, 16
	rgb := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			i := 3 * (y*w + x)
			rgb[i], rgb[i+1] = byte(2*x), 100
			if (x+y)%2 == 0 {
				rgb[i+2] = 200
			}
		}
	}
	out := blur(rgb, w, h, r)
	for y := 24; y < 40; y++ {
		for x := 48; x < 80; x++ {
			i := 3 * (y*w + x)
			if d := int(out[i]) - 2*x; d < -2 || d > 2 || out[i+1] != 100 || out[i+2] < 97 || out[i+2] > 103 {
				t.Fatalf("blurred pixel (%d,%d) = %v, want about [%d 100 100]", x, y, out[i:i+3], 2*x)
			}
		}
	}
}

// BenchmarkRender draws one object (a quarter of the frame) on a
// 1280x720 frame with each effect: the cost overlay.mp4 adds per frame.
func BenchmarkRender(b *testing.B) {
	const w, h = 1280, 720
	m := make([]byte, w*h)
	for y := h / 4; y < 3*h/4; y++ {
		for x := w / 4; x < 3*w/4; x++ {
			m[y*w+x] = 1
		}
	}
	masks := []ObjectMask{{ID: 1, Mask: m}}
	rgb := make([]byte, w*h*3)
	for _, e := range Effects {
		b.Run(string(e), func(b *testing.B) {
			for b.Loop() {
				if err := Render(rgb, w, h, masks, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
