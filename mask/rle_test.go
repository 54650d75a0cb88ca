package mask

import (
	"bytes"
	"encoding/json"
	"image"
	"os"
	"slices"
	"strings"
	"testing"
)

// cocoVector is one mask run through cocoapi's maskApi.c (rleEncode on the
// Fortran-order mask, rleToString, rleArea, rleToBbox), compiled with gcc.
type cocoVector struct {
	Name          string
	Width, Height int
	Counts        []uint32
	String        string
	Area          int
	BBox          [4]int
}

// vectorMask rebuilds the masks of testdata/coco_rle.json from the same
// formulas the reference run used.
func vectorMask(name string, w, h int) []byte {
	f := map[string]func(x, y int) bool{
		"stripes": func(x, y int) bool { return (x*7+y*13)%11 < 4 },
		"disc":    func(x, y int) bool { return (x-120)*(x-120)+(y-70)*(y-70) < 45*45 },
		"rect":    func(x, y int) bool { return 100 <= x && x < 500 && 50 <= y && y < 400 },
		"empty":   func(x, y int) bool { return false },
		"full":    func(x, y int) bool { return true },
		"last":    func(x, y int) bool { return x == 4 && y == 3 },
		"first":   func(x, y int) bool { return x == 0 && y == 0 },
		"twocol":  func(x, y int) bool { return (x == 1 && y >= 3) || (x == 2 && y <= 1) },
	}[name]
	m := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if f(x, y) {
				m[y*w+x] = 1
			}
		}
	}
	return m
}

func loadVectors(t *testing.T) []cocoVector {
	t.Helper()
	data, err := os.ReadFile("testdata/coco_rle.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []cocoVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestRLEAgainstMaskAPI(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			m := vectorMask(v.Name, v.Width, v.Height)
			r, err := EncodeRLE(m, v.Width, v.Height)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Counts, v.Counts) {
				t.Errorf("counts = %v, want %v", head(r.Counts), head(v.Counts))
			}
			if s := r.String(); s != v.String {
				t.Errorf("String() = %q, want %q", s, v.String)
			}
			if a := r.Area(); a != v.Area {
				t.Errorf("Area() = %d, want %d", a, v.Area)
			}
			bb := r.BBox()
			if got := [4]int{bb.Min.X, bb.Min.Y, bb.Dx(), bb.Dy()}; got != v.BBox {
				t.Errorf("RLE BBox = %v, want %v", got, v.BBox)
			}
			mb, err := BBox(m, v.Width, v.Height)
			if err != nil {
				t.Fatal(err)
			}
			if mb != bb {
				t.Errorf("mask BBox = %v, RLE BBox = %v", mb, bb)
			}
			p, err := ParseRLE(v.String, v.Width, v.Height)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Counts, v.Counts) {
				t.Errorf("ParseRLE counts = %v, want %v", head(p.Counts), head(v.Counts))
			}
			d, err := p.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d, m) {
				t.Error("Decode(ParseRLE(s)) differs from the mask")
			}
		})
	}
}

// TestRLEByHand: the 3x2 mask
//
//	0 1 0
//	1 1 0
//
// read by columns is 0 1 | 1 1 | 0 0: runs 1 zero, 3 ones, 2 zeros.
// Counts [1 3 2] are single 5-bit groups: '0'+1, '0'+3, '0'+2 = "132".
// A count of 37 needs two groups: 37 = 0b1_00101 -> low group 5|0x20
// (continue) = 37 -> 'U', then 1 -> '1': "U1". From the fourth count on
// the difference with two before is written: [0 5 3 2] -> 0, 5, 3, 2-5=-3:
// -3 & 0x1f = 29 has bit 0x10 and -3>>5 = -1 ends it -> '0'+29 = 'M'.
func TestRLEByHand(t *testing.T) {
	r, err := EncodeRLE([]byte{0, 1, 0, 1, 1, 0}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Counts, []uint32{1, 3, 2}) || r.String() != "132" {
		t.Errorf("got %v %q, want [1 3 2] \"132\"", r.Counts, r.String())
	}
	if s := (RLE{Height: 38, Width: 1, Counts: []uint32{37, 1}}).String(); s != "U11" {
		t.Errorf("String of [37 1] = %q, want \"U11\"", s)
	}
	if s := (RLE{Height: 10, Width: 1, Counts: []uint32{0, 5, 3, 2}}).String(); s != "053M" {
		t.Errorf("String of [0 5 3 2] = %q, want \"053M\"", s)
	}
	// Non-zero bytes other than 1 are foreground too.
	r2, _ := EncodeRLE([]byte{0, 7, 0, 255, 1, 0}, 3, 2)
	if !slices.Equal(r2.Counts, r.Counts) {
		t.Errorf("counts with 7/255 = %v, want %v", r2.Counts, r.Counts)
	}
}

func TestRLEErrors(t *testing.T) {
	if _, err := EncodeRLE(make([]byte, 5), 2, 3); err == nil || !strings.Contains(err.Error(), "want 6") {
		t.Errorf("EncodeRLE short mask: err = %v", err)
	}
	if _, err := EncodeRLE(nil, -1, 3); err == nil {
		t.Error("EncodeRLE negative size: no error")
	}
	bad := []struct{ s, want string }{
		{"d0", "cover 20 pixels"}, // right string, wrong size (3x3)
		{"1~", "outside"},
		{"1 ", "outside"},
		{"3U", "ends inside"},
		{"UUUUUUUUUUUUUU", "too long"},
		{"00M", "out of range"}, // third count: M = -3 with no base -> negative
	}
	for _, c := range bad {
		if _, err := ParseRLE(c.s, 3, 3); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRLE(%q): err = %v, want one containing %q", c.s, err, c.want)
		}
	}
	if _, err := (RLE{Height: 2, Width: 2, Counts: []uint32{1, 1}}).Decode(); err == nil {
		t.Error("Decode with short counts: no error")
	}
	if _, err := (RLE{Height: 1 << 20, Width: 1 << 20, Counts: []uint32{1 << 31, 1 << 31, 1 << 31}}).Decode(); err == nil {
		t.Error("Decode of a huge size: no error")
	}
}

func TestRLEJSON(t *testing.T) {
	m := vectorMask("disc", 200, 150)
	r, _ := EncodeRLE(m, 200, 150)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`{"size":[150,200],"counts":"UV;c0o38`)) {
		t.Errorf("json = %.60s", data)
	}
	var back RLE
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Counts, r.Counts) || back.Width != 200 || back.Height != 150 {
		t.Error("json round trip changed the rle")
	}
	// Uncompressed COCO form.
	if err := json.Unmarshal([]byte(`{"size":[2,3],"counts":[1,3,2]}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != "132" || back.Width != 3 {
		t.Errorf("uncompressed json = %+v", back)
	}
	for _, in := range []string{`{"size":[2,3],"counts":[1,3]}`, `{"size":[2,3]}`, `{"size":[2,3],"counts":"~"}`, `[]`} {
		if err := json.Unmarshal([]byte(in), &back); err == nil {
			t.Errorf("json %s: no error", in)
		}
	}
}

func TestBBoxAndIoU(t *testing.T) {
	m := []byte{
		0, 0, 0, 0,
		0, 1, 1, 0,
		0, 0, 1, 0,
	}
	bb, err := BBox(m, 4, 3)
	if err != nil || bb != image.Rect(1, 1, 3, 3) {
		t.Errorf("BBox = %v, %v; want (1,1)-(3,3)", bb, err)
	}
	if bb, _ := BBox(make([]byte, 12), 4, 3); !bb.Empty() {
		t.Errorf("empty BBox = %v", bb)
	}
	if _, err := BBox(m, 3, 3); err == nil {
		t.Error("BBox with wrong size: no error")
	}
	n := []byte{
		0, 0, 0, 0,
		0, 1, 0, 0,
		0, 1, 1, 1,
	}
	// m has 3 pixels, n has 4; 2 shared; union 3 + 4 - 2 = 5 -> 0.4.
	if iou, err := IoU(m, n); err != nil || iou != 0.4 {
		t.Errorf("IoU = %v, %v; want 0.4", iou, err)
	}
	if iou, _ := IoU(make([]byte, 4), make([]byte, 4)); iou != 1 {
		t.Errorf("IoU of empty masks = %v, want 1", iou)
	}
	if _, err := IoU(m, n[:5]); err == nil {
		t.Error("IoU of different sizes: no error")
	}
}

func head(c []uint32) []uint32 { return c[:min(len(c), 12)] }

func FuzzParseRLE(f *testing.F) {
	f.Add("132", 3, 2)
	f.Add("UV;c0o38I6K4L4L", 200, 150)
	f.Add("d0", 5, 4)
	f.Fuzz(func(t *testing.T, s string, w, h int) {
		if w < 0 || h < 0 || w > 512 || h > 512 {
			return
		}
		r, err := ParseRLE(s, w, h)
		if err != nil {
			return
		}
		m, err := r.Decode()
		if err != nil {
			t.Fatalf("Decode after ParseRLE: %v", err)
		}
		r2, err := EncodeRLE(m, w, h)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Area() != r.Area() {
			t.Fatalf("area %d after round trip, was %d", r2.Area(), r.Area())
		}
		if bb, _ := BBox(m, w, h); bb != r2.BBox() {
			t.Fatalf("BBox %v, RLE BBox %v", bb, r2.BBox())
		}
	})
}

func BenchmarkEncodeRLE(b *testing.B) {
	m := vectorMask("disc", 200, 150)
	big := make([]byte, 1280*720)
	for y := 0; y < 720; y++ {
		copy(big[y*1280:], m[(y%150)*200:(y%150)*200+200])
	}
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		r, _ := EncodeRLE(big, 1280, 720)
		_ = r.String()
	}
}
