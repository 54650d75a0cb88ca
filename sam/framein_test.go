package sam

import (
	"runtime"
	"testing"
)

func TestFrameInCopiesOncePerFrame(t *testing.T) {
	var c frameIn
	copies := 0
	copyIn := func() error { copies++; return nil }
	a, b := &Features{VisionFeat: make([]float32, 8)}, &Features{VisionFeat: make([]float32, 8)}
	for _, f := range []*Features{a, a, a, b, b, a} {
		if err := c.load(f, copyIn); err != nil {
			t.Fatal(err)
		}
	}
	if copies != 3 {
		t.Fatalf("%d copies for frames a a a b b a; want 3", copies)
	}
	runtime.KeepAlive(b)
}

// The model must not keep a closed session's last frame alive.
func TestFrameInDoesNotRetain(t *testing.T) {
	var c frameIn
	func() {
		f := &Features{VisionFeat: make([]float32, 1<<20)}
		if err := c.load(f, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}()
	runtime.GC()
	runtime.GC()
	if c.feats.Value() != nil {
		t.Fatal("the features are still reachable through frameIn after the caller dropped them")
	}
}
