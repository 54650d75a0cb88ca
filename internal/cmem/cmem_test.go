package cmem

import "testing"

func TestInUseIsPositive(t *testing.T) {
	if n := InUse(); n <= 0 {
		t.Fatalf("InUse() = %d", n)
	}
}
