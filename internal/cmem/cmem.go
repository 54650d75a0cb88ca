// Package cmem reports the C heap in use (glibc malloc), so tests can see
// memory that ONNX Runtime allocated and never freed, and sets glibc's mmap
// threshold. Go's own heap is not included.
package cmem

/*
#include <malloc.h>

static long long cmem_in_use(void) {
	struct mallinfo2 mi = mallinfo2();
	// Bytes in use in the arenas plus bytes in mmapped chunks.
	return (long long)(mi.uordblks + mi.hblkhd);
}

static int cmem_set_mmap_threshold(int n) { return mallopt(M_MMAP_THRESHOLD, n); }

static int cmem_trim(void) { return malloc_trim(0); }
*/
import "C"

// InUse returns the bytes currently allocated through malloc and not freed.
func InUse() int64 { return int64(C.cmem_in_use()) }

// SetMmapThreshold fixes glibc's mmap threshold at n bytes: blocks of at
// least n are mmapped and unmapped on free. It also stops glibc from raising
// the threshold (up to 32 MiB) after each large free, which made blocks of
// tens of MB come from the heap, where freed memory stays resident.
// It reports whether glibc accepted it.
func SetMmapThreshold(n int) bool { return C.cmem_set_mmap_threshold(C.int(n)) == 1 }

// Trim hands the free memory of every glibc arena back to the system
// (malloc_trim). glibc keeps what FFmpeg, libvpx and ONNX Runtime free in
// per-thread arenas, so a server that has just closed sessions holds their
// memory until the next ones reuse it; a long-lived server calls Trim when
// work ends. It reports whether any memory was released.
func Trim() bool { return C.cmem_trim() == 1 }
