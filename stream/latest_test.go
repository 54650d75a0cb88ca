package stream

import (
	"slices"
	"testing"
)

// PutDrop hands every value it replaces to drop, and Drain the one left,
// so that what they hold (a decoded picture kept for the model) is
// released exactly once.
func TestLatestPutDropAndDrain(t *testing.T) {
	l := NewLatest[int]()
	var dropped []int
	drop := func(v int) { dropped = append(dropped, v) }
	if l.PutDrop(1, drop) {
		t.Error("first PutDrop reported a drop")
	}
	if !l.PutDrop(2, drop) || !l.PutDrop(3, drop) {
		t.Error("PutDrop over a waiting value did not report a drop")
	}
	if got := <-l.C(); got != 3 {
		t.Errorf("took %d, want the newest, 3", got)
	}
	l.Drain(drop) // empty: nothing to drop
	l.PutDrop(4, drop)
	l.Drain(drop)
	if want := []int{1, 2, 4}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
}
