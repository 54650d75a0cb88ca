// Package cmem reports the C heap in use (glibc malloc), so tests can see
// memory that ONNX Runtime allocated and never freed. Go's own heap is not
// included.
package cmem

/*
#include <malloc.h>

static long long cmem_in_use(void) {
	struct mallinfo2 mi = mallinfo2();
	// Bytes in use in the arenas plus bytes in mmapped chunks.
	return (long long)(mi.uordblks + mi.hblkhd);
}
*/
import "C"

// InUse returns the bytes currently allocated through malloc and not freed.
func InUse() int64 { return int64(C.cmem_in_use()) }
