// Package bf16op holds vidseg's ONNX Runtime custom operators, whose
// products are in bfloat16 and everything else in float32:
//
//   - ai.vidseg.Bf16Attention: attention, softmax(scale Q K^T) V over
//     batch-first tensors (query [B, S, D], key [B, L, D], value [B, L, Dv]
//     -> [B, S, Dv]) with num_heads heads side by side; sam puts it in place
//     of com.microsoft.MultiHeadAttention nodes.
//   - ai.vidseg.Bf16MatMul: A [..., K] times a weight B [K, N] (or [N, K]
//     with transB=1), plus an optional bias [N], then an optional ReLU;
//     sam puts it in place of MatMul and Gemm nodes with a constant 2-D
//     weight (and the Add of their bias, the Relu that follows).
//   - ai.vidseg.Bf16Conv1x1: a pointwise convolution of NCHW images with
//     optional bias and residual.
//   - ai.vidseg.Bf16ConvMLP: RepViT's channel mixer (1x1 convolution,
//     exact GELU, 1x1 convolution, residual) in one node, its hidden
//     layer kept in each task's scratch.
//
// On CPUs with AVX-512 BF16 they run about twice as fast as ONNX Runtime's
// float32 kernels, which are near the float32 FMA peak; elsewhere portable
// kernels with the same rounding run (correct, much slower). Work is split
// over ONNX Runtime's intra-op thread pool.
package bf16op

/*
#cgo CFLAGS: -O3 -I${SRCDIR}/../../../third_party/onnxruntime-headers
#cgo LDFLAGS: -ldl -lm
#include <stdlib.h>
#include "op.h"
#include "kernel.h"
#include "gemm.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// The operators' names in ONNX graphs.
const (
	DomainName   = C.VS_DOMAIN
	OpName       = "Bf16Attention"
	MatMulOpName = "Bf16MatMul"
	ConvOpName   = "Bf16Conv1x1"
	MLPOpName    = "Bf16ConvMLP"
)

// Domain is the operator's ONNX Runtime custom-op domain. It must outlive
// every session created with options it was added to.
type Domain struct {
	api    *C.OrtApi
	ops    *C.vs_op // C memory: ONNX Runtime keeps pointers to them
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
	p, err := API(libPath)
	if err != nil {
		return nil, fmt.Errorf("custom operators %s: %w", DomainName, err)
	}
	api := (*C.OrtApi)(p)
	var errBuf [512]C.char
	d := &Domain{api: api, fast: fast}
	d.ops = (*C.vs_op)(C.calloc(4, C.size_t(unsafe.Sizeof(C.vs_op{}))))
	if d.ops == nil {
		return nil, errors.New("custom operators: out of memory")
	}
	f := C.int(0)
	if fast {
		f = 1
	}
	ops := unsafe.Slice(d.ops, 4)
	C.vs_op_init(&ops[0], api, f)
	C.vs_matmul_init(&ops[1], api, f)
	C.vs_conv_init(&ops[2], api, f)
	C.vs_mlp_init(&ops[3], api, f)
	if C.vs_domain_new(api, d.ops, 4, &d.domain, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		C.free(unsafe.Pointer(d.ops))
		return nil, fmt.Errorf("custom operators %s: %s", DomainName, C.GoString(&errBuf[0]))
	}
	return d, nil
}

// API returns ONNX Runtime's C API (a const OrtApi*) from the library at
// libPath, which onnxruntime_go must already have loaded: for vidseg's other
// cgo layers over the C API (sam/internal/arena).
func API(libPath string) (unsafe.Pointer, error) {
	var errBuf [512]C.char
	cpath := C.CString(libPath)
	defer C.free(unsafe.Pointer(cpath))
	api := C.vs_api(cpath, &errBuf[0], C.size_t(len(errBuf)))
	if api == nil {
		return nil, errors.New(C.GoString(&errBuf[0]))
	}
	return unsafe.Pointer(api), nil
}

// Accelerated reports whether this domain's operators run the fast kernels.
func (d *Domain) Accelerated() bool { return d.fast }

// AddTo makes the operators available to sessions created with opts.
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
	C.free(unsafe.Pointer(d.ops))
	d.domain, d.ops = nil, nil
}

// sessionOptionsPointer is the OrtSessionOptions* inside opts.
// onnxruntime_go (pinned in go.mod) has no API to register custom operators
// and keeps that pointer as its struct's only field; AddTo checks the
// pointer by writing a config entry through it and reading it back through
// onnxruntime_go.
func sessionOptionsPointer(opts *ort.SessionOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(opts))
}
