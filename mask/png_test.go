package mask

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
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
	// The grey map converted to RGB by PIL: grey levels are colours, not
	// DAVIS palette entries, so every nonzero pixel is the one object.
	f, err := os.Open("testdata/pil_rgb.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	labels, w, h, err := DecodePNG(f)
	want := make([]byte, len(pilLabels))
	for i, v := range pilLabels {
		want[i] = min(v, 1)
	}
	if err != nil || w != 7 || h != 5 || !bytes.Equal(labels, want) {
		t.Errorf("pil_rgb.png: %dx%d %v %v, want 7x5 %v", w, h, labels, err, want)
	}

	// The indexed map saved as RGB: the DAVIS colours map back to labels.
	pal := Palette()
	img := image.NewRGBA(image.Rect(0, 0, 7, 5))
	for i, v := range pilLabels {
		img.Set(i%7, i/7, pal[v])
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if labels, _, _, err := DecodePNG(&buf); err != nil || !bytes.Equal(labels, pilLabels) {
		t.Errorf("DAVIS colours as RGB: %v %v, want %v", labels, err, pilLabels)
	}
}

// RGB(A) masks from image editors: nonzero (and not transparent) is the
// object; 16-bit grey is refused in words, not with a Go type name.
func TestDecodeColourMasks(t *testing.T) {
	const w, h = 4, 3
	obj := func(x, y int) bool { return x >= 1 && x <= 2 && y >= 1 }
	want := make([]byte, w*h)
	for y := range h {
		for x := range w {
			if obj(x, y) {
				want[y*w+x] = 1
			}
		}
	}
	white := image.NewRGBA(image.Rect(0, 0, w, h))
	alpha := image.NewNRGBA(image.Rect(0, 0, w, h))
	deep := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			white.Set(x, y, color.Black)
			alpha.Set(x, y, color.NRGBA{R: 255, G: 255, B: 255, A: 0}) // transparent white
			if obj(x, y) {
				white.Set(x, y, color.White)
				alpha.Set(x, y, color.NRGBA{R: 200, G: 30, B: 30, A: 255})
				deep.Set(x, y, color.RGBA64{R: 1, A: 0xffff}) // dim but nonzero
			}
		}
	}
	for name, img := range map[string]image.Image{"rgb white on black": white, "rgba on transparent": alpha, "rgb 16-bit": deep} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		labels, gw, gh, err := DecodePNG(&buf)
		if err != nil || gw != w || gh != h || !bytes.Equal(labels, want) {
			t.Errorf("%s: %dx%d %v %v, want %v", name, gw, gh, labels, err, want)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray16(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := DecodePNG(&buf); err == nil || !strings.Contains(err.Error(), "16-bit grey") || strings.Contains(err.Error(), "*image") {
		t.Errorf("16-bit grey: %v, want it named in words", err)
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

func TestReadPNG(t *testing.T) {
	labels, w, h, err := ReadPNG("testdata/pil_indexed.png")
	if err != nil || w != 7 || h != 5 || !bytes.Equal(labels, pilLabels) {
		t.Fatalf("ReadPNG: %v, %dx%d", err, w, h)
	}
	if _, _, _, err := ReadPNG("testdata/none.png"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, _, _, err := ReadPNG("png_test.go"); err == nil || !strings.Contains(err.Error(), "png_test.go: mask: decode png") {
		t.Errorf("not a png: %v, want the path named", err)
	}
}
