package iobind

import "testing"

// The pinned onnxruntime_go keeps its handles where Session, Tensor and
// RunOptions read them; another version fails here, before any session.
func TestCheckLayout(t *testing.T) {
	if err := CheckLayout(); err != nil {
		t.Fatal(err)
	}
}
