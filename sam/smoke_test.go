package sam

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	rt := newTestRuntime(t)
	t0 := time.Now()
	m := openTestModel(t, rt, fixtureDir(t))
	t.Logf("open %v provider %s", time.Since(t0), m.Provider())
	ctx := context.Background()
	t0 = time.Now()
	f, err := m.EncodeImage(ctx, HashUniform(3*1024*1024, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("enc %v", time.Since(t0))
	t0 = time.Now()
	c, err := m.DecodeMasks(ctx, f.VisionFeat, f, Prompt{Coords: [][2]float32{{500, 400}}, Labels: []float32{1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dec %v iou %v score %v", time.Since(t0), c.IoU, c.ObjectScore)
	hi := make([]float32, 1024*1024)
	UpsampleBilinear(c.Masks[1], 256, 256, hi, 1024, 1024)
	t0 = time.Now()
	feat, pos, err := m.EncodeMemory(ctx, f.VisionFeat, hi, true, c.ObjectScore)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memenc %v", time.Since(t0))
	for _, np := range []int{0, 1, 3} {
		ptrs := make([]Pointer, np)
		for i := range ptrs {
			ptrs[i] = Pointer{Vec: c.ObjPtr[1], Offset: float32(i + 1)}
		}
		t0 = time.Now()
		out, err := m.AttendMemory(ctx, f, []MemoryFrame{{feat, pos, 0}, {feat, pos, 1}}, ptrs)
		if err != nil {
			t.Fatalf("P=%d: %v", np, err)
		}
		t.Logf("attn P=%d %v %v", np, time.Since(t0), out[:3])
	}
}
