package dl

import (
	"strings"
	"testing"
)

func TestOpenGlobal(t *testing.T) {
	// libm is on every glibc system, under its soname.
	if err := OpenGlobal("libm.so.6"); err != nil {
		t.Fatalf("libm.so.6: %v", err)
	}
	err := OpenGlobal("/nonexistent/libnothing.so.1")
	if err == nil || !strings.Contains(err.Error(), "libnothing") {
		t.Fatalf("missing library: got %v, want an error naming it", err)
	}
}
