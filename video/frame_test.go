package video

import (
	"bytes"
	"errors"
	"testing"
)

// A deferred model copy is made once by LoadModel, its source released
// exactly once whichever of LoadModel, DropModel and Release comes first,
// and a failed copy keeps reporting its own error.
func TestDeferModel(t *testing.T) {
	var p Pool
	newFrame := func(fill func([]byte) error) (*Frame, *int) {
		f := p.NewFrame(0, 0, 2, 2, 0)
		drops := new(int)
		f.DeferModel(2, fill, func() { *drops++ })
		return f, drops
	}
	fills := 0
	ok := func(dst []byte) error { fills++; copy(dst, bytes.Repeat([]byte{7}, len(dst))); return nil }

	f, drops := newFrame(ok)
	if f.Model != nil {
		t.Fatal("Model made before LoadModel")
	}
	for range 2 {
		if err := f.LoadModel(); err != nil {
			t.Fatal(err)
		}
	}
	if fills != 1 || *drops != 1 || !bytes.Equal(f.Model, bytes.Repeat([]byte{7}, 12)) {
		t.Errorf("after two LoadModel: %d fills, %d drops, Model %v", fills, *drops, f.Model)
	}
	f.DropModel() // a loaded copy stays
	f.Release()
	if *drops != 1 {
		t.Errorf("source released %d times, want once", *drops)
	}

	f, drops = newFrame(ok)
	f.DropModel()
	f.Release()
	if err := f.LoadModel(); err == nil || f.Model != nil || *drops != 1 {
		t.Errorf("LoadModel after DropModel: %v, Model %v, %d drops; want an error, no copy, one drop", err, f.Model, *drops)
	}

	bad := errors.New("scaler failed")
	f, drops = newFrame(func([]byte) error { return bad })
	for range 2 {
		if err := f.LoadModel(); !errors.Is(err, bad) {
			t.Errorf("LoadModel of a failed copy: %v, want %v", err, bad)
		}
	}
	if *drops != 1 || f.Model != nil {
		t.Errorf("failed copy: %d drops, Model %v", *drops, f.Model)
	}
}
