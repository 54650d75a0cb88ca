// Package dl loads shared libraries into the process with dlopen, so that
// libraries which name them by soname (the CUDA provider of ONNX Runtime
// names libcublas.so.13, libcudart.so.13, ...) find them already loaded,
// wherever they were found, without LD_LIBRARY_PATH (which the dynamic
// linker reads only when the process starts).
package dl

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

static void *dl_open_global(const char *path) { return dlopen(path, RTLD_NOW | RTLD_GLOBAL); }
static const char *dl_last_error(void) { return dlerror(); }
*/
import "C"

import (
	"errors"
	"unsafe"
)

// OpenGlobal loads the library at path with its symbols visible to every
// library loaded after it. The library stays loaded for the life of the
// process: ONNX Runtime keeps pointers into it, so it is never closed.
func OpenGlobal(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if h := C.dl_open_global(cs); h != nil {
		return nil
	}
	if msg := C.dl_last_error(); msg != nil {
		return errors.New(C.GoString(msg))
	}
	return errors.New("dlopen " + path + " failed")
}
