// Package arena registers one ONNX Runtime CPU memory arena with the
// process's environment, for every session to share.
//
// Without an arena each tensor of a run is malloc'd and, above glibc's mmap
// threshold, mapped and unmapped: every run then faults in its activations
// page by page, which on virtual machines costs more than the kernels (a
// 4-million-float Add: 2.5 ms from reused memory, 7-34 ms from fresh pages).
// A per-session arena keeps each graph's largest activations, so four
// graphs hold four peaks; one shared arena holds the largest run's working
// set, reused by every graph in turn.
package arena

/*
#cgo CFLAGS: -O2 -I${SRCDIR}/../../../third_party/onnxruntime-headers
#include "arena.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SessionConfigKey and SessionConfigValue make a session allocate from the
// environment's arena (ONNX Runtime's "session.use_env_allocators").
const (
	SessionConfigKey   = "session.use_env_allocators"
	SessionConfigValue = "1"
)

// Arena is the registered allocator. Close it after every session that uses
// it and before the environment is destroyed.
type Arena struct {
	c C.va_arena
}

// Open registers the arena through api, ONNX Runtime's C API (a const
// OrtApi*, bf16op.API) in a process where onnxruntime_go has initialized
// the environment.
func Open(api unsafe.Pointer) (*Arena, error) {
	var errBuf [512]C.char
	a := &Arena{}
	if C.va_open((*C.OrtApi)(api), &a.c, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		return nil, fmt.Errorf("shared CPU arena: %s", C.GoString(&errBuf[0]))
	}
	return a, nil
}

// Close unregisters the arena; ONNX Runtime frees it with the last session
// that still holds it.
func (a *Arena) Close() error {
	if a == nil || a.c.api == nil {
		return nil
	}
	var errBuf [512]C.char
	rc := C.va_close(&a.c, &errBuf[0], C.size_t(len(errBuf)))
	a.c = C.va_arena{}
	if rc != 0 {
		return fmt.Errorf("shared CPU arena: %s", C.GoString(&errBuf[0]))
	}
	return nil
}
