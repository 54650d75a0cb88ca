package mask

import (
	"bytes"
	"image/color"
	"os"
	"strings"
	"testing"
)

// pilLabels is the label map that testdata/pil_*.png hold, written by PIL
// 9.4 (Image.fromarray(labels, "P") with the DAVIS palette, and "L").
var pilLabels = []byte{
	0, 3, 0, 3, 0, 3, 0,
	5, 2, 5, 2, 5, 2, 5,
	4, 1, 4, 1, 4, 1, 4,
	3, 0, 3, 0, 3, 0, 3,
	2, 5, 2, 5, 2, 5, 255,
}

func TestPalette(t *testing.T) {
	p := Palette()
	want := map[int]color.RGBA{
		0: {0, 0, 0, 255}, 1: {128, 0, 0, 255}, 2: {0, 128, 0, 255}, 3: {128, 128, 0, 255},
		4: {0, 0, 128, 255}, 5: {128, 0, 128, 255}, 8: {64, 0, 0, 255}, 255: {224, 224, 192, 255},
	}
	for i, c := range want {
		if p[i] != c {
			t.Errorf("Palette()[%d] = %v, want %v", i, p[i], c)
		}
	}
	if len(p) != 256 {
		t.Errorf("len = %d", len(p))
	}
}

func TestDecodePIL(t *testing.T) {
	for _, name := range []string{"pil_indexed.png", "pil_gray.png"} {
		f, err := os.Open("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		labels, w, h, err := DecodePNG(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w != 7 || h != 5 || !bytes.Equal(labels, pilLabels) {
			t.Errorf("%s: %dx%d %v, want 7x5 %v", name, w, h, labels, pilLabels)
		}
	}
	f, err := os.Open("testdata/pil_rgb.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, _, err := DecodePNG(f); err == nil || !strings.Contains(err.Error(), "want an indexed") {
		t.Errorf("RGB png: err = %v", err)
	}
}

func TestPNGRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodePNG(&buf, pilLabels, 7, 5); err != nil {
		t.Fatal(err)
	}
	labels, w, h, err := DecodePNG(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if w != 7 || h != 5 || !bytes.Equal(labels, pilLabels) {
		t.Errorf("round trip %dx%d %v", w, h, labels)
	}
	// The palette travels with the file: a viewer shows DAVIS colours.
	if !bytes.Contains(buf.Bytes(), []byte("PLTE\x00\x00\x00\x80\x00\x00")) {
		t.Error("PLTE chunk does not start black, (128,0,0)")
	}
	if err := EncodePNG(&buf, pilLabels, 6, 5); err == nil {
		t.Error("EncodePNG with wrong size: no error")
	}
	if err := EncodePNG(&buf, nil, 0, 0); err == nil {
		t.Error("EncodePNG 0x0: no error")
	}
	if _, _, _, err := DecodePNG(strings.NewReader("not a png")); err == nil {
		t.Error("DecodePNG garbage: no error")
	}
}
