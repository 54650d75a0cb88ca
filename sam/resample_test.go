package sam

import (
	"math"
	"strconv"
	"testing"
)

// Expected values come from torch 1.13 on CPU (Debian python3-torch):
//
//	src = HashUniform(sw*sh, seed, 10) as a 1x1xshxsw tensor
//	out = F.interpolate(src, size=(dh, dw), mode="bilinear", align_corners=False)
//
// with out's sum in float64, the count of out > 0, and a few samples in
// hex float.
var resizeCases = []struct {
	sw, sh, dw, dh int
	seed           uint32
	sum            float64
	positive       int
	samples        []struct {
		y, x int
		hex  string
	}
}{
	{4, 4, 16, 16, 1, -267.4467581436038, 96, samples{{0, 0, "-0x1.3ffe74p+3"}, {15, 15, "-0x1.25bc44p+2"}, {8, 5, "-0x1.56fd0ep+0"}, {5, 15, "-0x1.13e3ecp+1"}, {1, 2, "-0x1.0e8d1ep+3"}}},
	{256, 256, 1024, 1024, 2, -1.1425895802676678, 524312, samples{{0, 0, "-0x1.3ffceap+3"}, {1023, 1023, "0x1.c965cap+2"}, {512, 341, "-0x1.508d24p+2"}, {341, 1023, "-0x1.eb53f6p+2"}, {1, 2, "-0x1.0e8b94p+3"}}},
	{256, 256, 1280, 720, 3, -97.45888898935164, 460806, samples{{0, 0, "-0x1.3ffb6p+3"}, {719, 1279, "0x1.c968ep+2"}, {360, 426, "-0x1.1d3b22p+2"}, {240, 1279, "-0x1.32c7d8p+3"}, {1, 2, "-0x1.3b5be6p+3"}}},
	{7, 5, 3, 4, 4, -4.2456241846084595, 5, samples{{0, 0, "-0x1.e2eafp-1"}, {3, 2, "-0x1.280874p+2"}, {2, 1, "0x1.0d7544p+2"}, {1, 2, "-0x1.c54f76p+0"}}},
	{5, 3, 11, 7, 5, -61.80676459718961, 39, samples{{0, 0, "-0x1.3ff846p+3"}, {6, 10, "0x1.86756cp+1"}, {3, 3, "0x1.bc3a8ep+1"}, {2, 10, "0x1.e58e1ep-2"}, {1, 2, "-0x1.e0237ap+0"}}},
}

type samples = []struct {
	y, x int
	hex  string
}

func TestUpsampleBilinearMatchesTorch(t *testing.T) {
	for _, c := range resizeCases {
		src := HashUniform(c.sw*c.sh, c.seed, 10)
		dst := make([]float32, c.dw*c.dh)
		UpsampleBilinear(src, c.sw, c.sh, dst, c.dw, c.dh)
		var sum float64
		pos := 0
		for _, v := range dst {
			sum += float64(v)
			if v > 0 {
				pos++
			}
		}
		// The sum of up to a million values tolerates last-bit differences.
		if math.Abs(sum-c.sum) > 1e-5*float64(len(dst)) {
			t.Errorf("%dx%d->%dx%d: sum %v, torch %v", c.sw, c.sh, c.dw, c.dh, sum, c.sum)
		}
		if pos != c.positive {
			t.Errorf("%dx%d->%dx%d: %d positive, torch %d", c.sw, c.sh, c.dw, c.dh, pos, c.positive)
		}
		for _, s := range c.samples {
			want, err := strconv.ParseFloat(s.hex, 32)
			if err != nil {
				t.Fatal(err)
			}
			got := dst[s.y*c.dw+s.x]
			if math.Abs(float64(got)-want) > 1e-6*math.Max(1, math.Abs(want)) { // last-bit order differences
				t.Errorf("%dx%d->%dx%d at (%d,%d): %v, torch %v", c.sw, c.sh, c.dw, c.dh, s.y, s.x, got, want)
			}
		}
	}
}

func TestMaskToSourceMatchesTorch(t *testing.T) {
	for _, c := range resizeCases {
		if c.sw != c.sh {
			continue
		}
		logits := HashUniform(c.sw*c.sh, c.seed, 10)
		mask := make([]byte, c.dw*c.dh)
		for i := range mask {
			mask[i] = 7 // must be overwritten
		}
		MaskToSource(logits, c.sw, c.dw, c.dh, mask)
		pos := 0
		for i, v := range mask {
			switch v {
			case 1:
				pos++
			case 0:
			default:
				t.Fatalf("%dx%d: mask[%d] = %d, want 0 or 1", c.dw, c.dh, i, v)
			}
		}
		if pos != c.positive {
			t.Errorf("%d->%dx%d: %d pixels set, torch %d", c.sw, c.dw, c.dh, pos, c.positive)
		}
		for _, s := range c.samples {
			want, _ := strconv.ParseFloat(s.hex, 32)
			if got := mask[s.y*c.dw+s.x]; (got == 1) != (want > 0) {
				t.Errorf("%d->%dx%d at (%d,%d): %d, torch logit %v", c.sw, c.dw, c.dh, s.y, s.x, got, want)
			}
		}
	}
}

func TestUpsampleBilinearIdentity(t *testing.T) {
	src := HashUniform(13*9, 11, 4)
	dst := make([]float32, len(src))
	UpsampleBilinear(src, 13, 9, dst, 13, 9)
	for i := range src {
		if src[i] != dst[i] {
			t.Fatalf("same-size resize changed value %d: %v -> %v", i, src[i], dst[i])
		}
	}
}

func TestUpsampleBilinearShortSlicePanicsWithMessage(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic for a short destination")
		}
		if s, ok := r.(string); !ok || s != "sam.UpsampleBilinear: destination has 3 values, want 2x2" {
			t.Fatalf("panic %v", r)
		}
	}()
	UpsampleBilinear(make([]float32, 4), 2, 2, make([]float32, 3), 2, 2)
}

func TestHashUniformMatchesExporter(t *testing.T) {
	// numpy: u = (i*2654435761 + seed*40503) mod 2^32, v = float32(u>>8)/2^24*2-1, v*scale
	want := []float32{-2.9996042251586914, 0.7085999250411987, -1.5831964015960693, 2.1250076293945312, -0.16678833961486816}
	got := HashUniform(5, 7, 3)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("HashUniform(5, 7, 3)[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	var sum float64
	for _, v := range HashUniform(100000, 3, 1.5) {
		sum += float64(v)
	}
	if sum != -0.04742729663848877 {
		t.Errorf("sum of HashUniform(100000, 3, 1.5) = %v, want -0.04742729663848877", sum)
	}
}

func BenchmarkMaskToSource(b *testing.B) {
	logits := HashUniform(256*256, 1, 10)
	dst := make([]byte, 1280*720)
	for b.Loop() {
		MaskToSource(logits, 256, 1280, 720, dst)
	}
}

func BenchmarkUpsampleBilinear256To1024(b *testing.B) {
	src := HashUniform(256*256, 1, 10)
	dst := make([]float32, 1024*1024)
	for b.Loop() {
		UpsampleBilinear(src, 256, 256, dst, 1024, 1024)
	}
}
