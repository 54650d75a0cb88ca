package memory

import (
	"math"
	"slices"
	"testing"
)

func sam2Config() Config {
	return Config{NumMaskmem: 7, MaxPointers: 16, SignedPointerOffsets: true, PastPointersOnly: true}
}

func entry(frame int) *Entry {
	return &Entry{Frame: frame, Feat: []uint16{0}, Ptr: []float32{float32(frame)}, IoU: 0.9, ObjectScore: 1}
}

func frames(sel Selection) (fs, slots []int) {
	for _, r := range sel.Frames {
		fs = append(fs, r.Entry.Frame)
		slots = append(slots, r.Slot)
	}
	return
}

func TestSelectSAM2Forward(t *testing.T) {
	b := NewBank(sam2Config())
	b.PutCond(entry(0))
	for f := 1; f < 20; f++ {
		b.Put(entry(f))
	}
	sel, err := b.Select(20, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	fs, slots := frames(sel)
	// Conditioning frame at slot 0, then t-6..t-1 at slots 1..6.
	if !slices.Equal(fs, []int{0, 14, 15, 16, 17, 18, 19}) || !slices.Equal(slots, []int{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("frames %v slots %v", fs, slots)
	}
	// Pointers: the conditioning frame (offset 20) then 15 previous frames
	// (offsets 1..15).
	if len(sel.Pointers) != 16 {
		t.Fatalf("%d pointers, want 16", len(sel.Pointers))
	}
	if sel.Pointers[0].Entry.Frame != 0 || sel.Pointers[0].Offset != 20 {
		t.Fatalf("first pointer %+v", sel.Pointers[0])
	}
	if sel.Pointers[1].Entry.Frame != 19 || sel.Pointers[1].Offset != 1 || sel.Pointers[15].Entry.Frame != 5 || sel.Pointers[15].Offset != 15 {
		t.Fatalf("pointers %+v ... %+v", sel.Pointers[1], sel.Pointers[15])
	}
}

func TestSelectReverseAndFutureCond(t *testing.T) {
	b := NewBank(sam2Config())
	b.PutCond(entry(10))
	for f := 11; f < 16; f++ {
		b.Put(entry(f))
	}
	// Backward from 9: 10 is conditioning (slot 0); 15..11 fill slots 1..5
	// and slot 6 (frame 10 as non-conditioning) stays empty.
	sel, err := b.Select(9, true, 16)
	if err != nil {
		t.Fatal(err)
	}
	fs, slots := frames(sel)
	if !slices.Equal(fs, []int{10, 15, 14, 13, 12, 11}) || !slices.Equal(slots, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("frames %v slots %v", fs, slots)
	}
	// Signed offset of the conditioning pointer in reverse: (9-10)*-1 = 1.
	if sel.Pointers[0].Offset != 1 {
		t.Fatalf("cond pointer offset %v, want 1", sel.Pointers[0].Offset)
	}
	// Forward from frame 3 with only a future conditioning frame: memory but
	// no pointer (the reference keeps only past pointers).
	b2 := NewBank(sam2Config())
	b2.PutCond(entry(6))
	sel, err = b2.Select(3, false, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Frames) != 1 || len(sel.Pointers) != 0 {
		t.Fatalf("got %d frames %d pointers, want 1 and 0", len(sel.Frames), len(sel.Pointers))
	}
}

func TestSelectShortVideoLimitsPointers(t *testing.T) {
	b := NewBank(sam2Config())
	b.PutCond(entry(0))
	for f := 1; f < 8; f++ {
		b.Put(entry(f))
	}
	sel, _ := b.Select(8, false, 9)
	// min(num_frames, 16) = 9: t_diff 1..8 and the cond frame.
	if len(sel.Pointers) != 1+7 {
		t.Fatalf("%d pointers", len(sel.Pointers))
	}
}

func TestSelectNoCond(t *testing.T) {
	if _, err := NewBank(sam2Config()).Select(3, false, 0); err == nil {
		t.Fatal("want an error without a conditioning frame")
	}
}

func TestMaxCondKeepsClosest(t *testing.T) {
	cfg := sam2Config()
	cfg.MaxCond = 2
	b := NewBank(cfg)
	for _, f := range []int{0, 50, 100} {
		b.PutCond(entry(f))
	}
	// The first prompt is kept, the farthest other evicted on insert.
	if got := b.CondFrames(); !slices.Equal(got, []int{0, 100}) {
		t.Fatalf("cond frames %v", got)
	}
}

func TestSamuraiSelection(t *testing.T) {
	cfg := sam2Config()
	cfg.Samurai = true
	cfg.IoUThreshold = 0.5
	cfg.SamuraiScan = 15
	b := NewBank(cfg)
	b.PutCond(entry(0))
	for f := 1; f < 30; f++ {
		e := entry(f)
		if f%3 == 0 { // low quality frames never become memory
			e.IoU = 0.2
		}
		if f == 28 {
			e.HasKalman, e.KalmanScore = true, 0 // motion disagrees
		}
		b.Put(e)
	}
	sel, err := b.Select(30, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	fs, slots := frames(sel)
	// valid (newest first): 29, 26? no: 29 ok, 28 kalman 0 -> no, 27 %3 -> no,
	// 26, 25, 23, 22, 20 ... last 6 of [.., 20, 22, 23, 25, 26, 29] (29 = t-1).
	if !slices.Equal(fs, []int{0, 20, 22, 23, 25, 26, 29}) || !slices.Equal(slots, []int{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("frames %v slots %v", fs, slots)
	}
	// t-1 is kept even when invalid.
	b.Put(&Entry{Frame: 30, Feat: []uint16{0}, Ptr: []float32{0}, IoU: 0.1, ObjectScore: -3})
	sel, _ = b.Select(31, false, 0)
	fs, _ = frames(sel)
	if fs[len(fs)-1] != 30 || fs[len(fs)-2] != 29 {
		t.Fatalf("frames %v: want ... 29, 30", fs)
	}
}

func TestPruneBounded(t *testing.T) {
	for _, samurai := range []bool{false, true} {
		cfg := sam2Config()
		cfg.Samurai = samurai
		cfg.IoUThreshold = 0.5
		b := NewBank(cfg)
		b.PutCond(entry(0))
		var ref Selection
		for f := 1; f < 2000; f++ {
			if f > 1 {
				sel, err := b.Select(f, false, 0)
				if err != nil {
					t.Fatal(err)
				}
				ref = sel
			}
			e := entry(f)
			if f%4 == 0 {
				e.IoU = 0.1
			}
			b.Put(e)
			b.Prune(f, false)
		}
		if b.Len() > 1+16 {
			t.Errorf("samurai=%v: bank holds %d frames after 2000, want <= 17", samurai, b.Len())
		}
		if n := b.FeatureFrames(); n > 1+7+1 {
			t.Errorf("samurai=%v: %d frames keep features", samurai, n)
		}
		if len(ref.Frames) != 7 || len(ref.Pointers) != 16 {
			t.Errorf("samurai=%v: last selection %d frames %d pointers", samurai, len(ref.Frames), len(ref.Pointers))
		}
	}
}

func TestPruneMatchesUnbounded(t *testing.T) {
	// Pruning must not change what attention reads.
	cfg := sam2Config()
	cfg.Samurai = true
	cfg.IoUThreshold = 0.5
	bounded, full := NewBank(cfg), NewBank(cfg)
	bounded.PutCond(entry(0))
	full.PutCond(entry(0))
	for f := 1; f < 300; f++ {
		if f > 1 {
			a, _ := bounded.Select(f, false, 0)
			b, _ := full.Select(f, false, 0)
			fa, sa := frames(a)
			fb, sb := frames(b)
			if !slices.Equal(fa, fb) || !slices.Equal(sa, sb) || len(a.Pointers) != len(b.Pointers) {
				t.Fatalf("frame %d: bounded %v/%v, full %v/%v", f, fa, sa, fb, sb)
			}
		}
		e1, e2 := entry(f), entry(f)
		if f%5 == 0 || (f/20)%2 == 1 {
			e1.IoU, e2.IoU = 0.1, 0.1
		}
		bounded.Put(e1)
		full.Put(e2)
		bounded.Prune(f, false)
	}
}

func TestBF16(t *testing.T) {
	in := []float32{1, 1.00390625, 1.01171875, -2.5, 3.14159265, 0, float32(math.Inf(1))}
	// 1+2^-8 is a tie: rounds to even (1); 1+3*2^-8 rounds up to 1+2^-6.
	want := []float32{1, 1, 1.015625, -2.5, 3.140625, 0, float32(math.Inf(1))}
	h := make([]uint16, len(in))
	out := make([]float32, len(in))
	ToBF16(in, h)
	FromBF16(h, out)
	for i := range in {
		if out[i] != want[i] {
			t.Errorf("bf16(%v) = %v, want %v", in[i], out[i], want[i])
		}
	}
}
