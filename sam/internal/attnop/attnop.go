// Package attnop is vidseg's ONNX Runtime custom operator
// ai.vidseg.Bf16Attention: single-head attention, softmax(scale Q K^T) V
// over batch-first tensors (query [B, S, D], key [B, L, D], value
// [B, L, Dv] -> [B, S, Dv]), with its products in bfloat16 and everything
// else in float32. It replaces com.microsoft.MultiHeadAttention (one head)
// in packages made by tools/export/bf16attn.py.
//
// On CPUs with AVX-512 BF16 it runs a flash-attention kernel twice as fast
// as ONNX Runtime's float32 one on the memory attention's shapes; elsewhere
// a portable kernel with the same rounding runs (correct, much slower).
// Work is split over ONNX Runtime's intra-op thread pool.
package attnop

/*
#cgo CFLAGS: -O3 -I${SRCDIR}/include
#cgo LDFLAGS: -ldl -lm
#include <stdlib.h>
#include "op.h"
#include "kernel.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// DomainName and OpName name the operator in ONNX graphs.
const (
	DomainName = C.VS_DOMAIN
	OpName     = "Bf16Attention"
)

// Domain is the operator's ONNX Runtime custom-op domain. It must outlive
// every session created with options it was added to.
type Domain struct {
	api    *C.OrtApi
	op     *C.vs_op // C memory: ONNX Runtime keeps a pointer to it
	domain *C.OrtCustomOpDomain
	fast   bool
}

// Fast reports whether this CPU runs the AVX-512 BF16 kernel.
func Fast() bool { return C.vs_fast() != 0 }

// Open creates the domain in the ONNX Runtime library at libPath, which
// onnxruntime_go must already have loaded.
func Open(libPath string) (*Domain, error) { return open(libPath, Fast()) }

// open lets tests run the portable kernel on any CPU.
func open(libPath string, fast bool) (*Domain, error) {
	var errBuf [512]C.char
	cpath := C.CString(libPath)
	defer C.free(unsafe.Pointer(cpath))
	api := C.vs_api(cpath, &errBuf[0], C.size_t(len(errBuf)))
	if api == nil {
		return nil, fmt.Errorf("custom operator %s.%s: %s", DomainName, OpName, C.GoString(&errBuf[0]))
	}
	d := &Domain{api: api, fast: fast}
	d.op = (*C.vs_op)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vs_op{}))))
	if d.op == nil {
		return nil, errors.New("custom operator: out of memory")
	}
	f := C.int(0)
	if fast {
		f = 1
	}
	C.vs_op_init(d.op, api, f)
	if C.vs_domain_new(api, d.op, &d.domain, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		C.free(unsafe.Pointer(d.op))
		return nil, fmt.Errorf("custom operator %s.%s: %s", DomainName, OpName, C.GoString(&errBuf[0]))
	}
	return d, nil
}

// Accelerated reports whether this domain's operator runs the fast kernel.
func (d *Domain) Accelerated() bool { return d.fast }

// AddTo makes the operator available to sessions created with opts.
func (d *Domain) AddTo(opts *ort.SessionOptions) error {
	if d == nil || d.domain == nil {
		return errors.New("custom operator domain is closed")
	}
	p := sessionOptionsPointer(opts)
	var errBuf [512]C.char
	if C.vs_probe(d.api, p, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		return fmt.Errorf("add custom operator domain: %s", C.GoString(&errBuf[0]))
	}
	if v, err := opts.GetSessionConfigEntry(C.VS_PROBE_KEY); err != nil || v != DomainName {
		return fmt.Errorf("add custom operator domain: onnxruntime_go's session options layout changed (probe read %q, %v)", v, err)
	}
	if C.vs_domain_add(d.api, p, d.domain, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		return fmt.Errorf("add custom operator domain: %s", C.GoString(&errBuf[0]))
	}
	return nil
}

// Close releases the domain. Sessions that use it must be closed first.
func (d *Domain) Close() {
	if d == nil || d.domain == nil {
		return
	}
	C.vs_domain_free(d.api, d.domain)
	C.free(unsafe.Pointer(d.op))
	d.domain, d.op = nil, nil
}

// sessionOptionsPointer is the OrtSessionOptions* inside opts.
// onnxruntime_go (pinned in go.mod) has no API to register custom operators
// and keeps that pointer as its struct's only field; AddTo checks the
// pointer by writing a config entry through it and reading it back through
// onnxruntime_go.
func sessionOptionsPointer(opts *ort.SessionOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(opts))
}
