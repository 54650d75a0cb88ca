// Package iobind binds ONNX Runtime session inputs and outputs to values
// the runtime owns (its IoBinding), which onnxruntime_go v1.27 binds only
// as Go-memory tensors: an output bound to a device stays there, held by
// a Value, and is bound as the input of the next graph without a copy
// through Go (or, on CUDA, through the host).
//
// onnxruntime_go keeps its C handles unexported; Session, Tensor and
// RunOptions read them at the layout of the pinned version, which
// CheckLayout verifies (go.mod pins it; ../../../docs/runtime.md).
package iobind

/*
#cgo CFLAGS: -O2 -I${SRCDIR}/../../../third_party/onnxruntime-headers
#include <stdlib.h>
#include "iobind.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

const errLen = 512

func fail(op string, buf *[errLen]C.char) error {
	return fmt.Errorf("%s: %s", op, C.GoString(&buf[0]))
}

// CheckLayout fails when onnxruntime_go's types no longer hold their C
// handles where Session, Tensor and RunOptions read them: each must start
// with a pointer field of that name to that type.
func CheckLayout() error {
	first := func(v any, name, elem string) error {
		t := reflect.TypeOf(v)
		if t.NumField() > 0 {
			f := t.Field(0)
			if f.Name == name && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Name() == elem {
				return nil
			}
		}
		return fmt.Errorf("onnxruntime_go's %s does not start with %s *%s (another version than go.mod pins?)", t, name, elem)
	}
	return errors.Join(
		first(ort.DynamicAdvancedSession{}, "s", "AdvancedSession"),
		first(ort.AdvancedSession{}, "ortSession", "_Ctype_struct_OrtSession"),
		first(ort.ValueInternalData{}, "ortValue", "_Ctype_struct_OrtValue"),
		first(ort.RunOptions{}, "o", "_Ctype_struct_OrtRunOptions"),
	)
}

// Session is s's OrtSession.
func Session(s *ort.DynamicAdvancedSession) unsafe.Pointer {
	adv := *(*unsafe.Pointer)(unsafe.Pointer(s))
	return *(*unsafe.Pointer)(adv)
}

// Tensor is v's OrtValue.
func Tensor(v ort.Value) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(v.GetInternals()))
}

// RunOptions is o's OrtRunOptions.
func RunOptions(o *ort.RunOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(o))
}

// Device is where the runtime allocates an output bound to it.
type Device struct {
	api  *C.OrtApi
	info *C.OrtMemoryInfo
	cuda bool
}

// NewDevice is the CPU (cuda false: the runtime's CPU allocator, the
// shared arena when the sessions use it) or CUDA device id, through api,
// ONNX Runtime's C API (a const OrtApi*).
func NewDevice(api unsafe.Pointer, cuda bool, id int) (*Device, error) {
	var buf [errLen]C.char
	d := &Device{api: (*C.OrtApi)(api), cuda: cuda}
	flag := C.int(0)
	if cuda {
		flag = 1
	}
	if C.vb_memory_info(d.api, flag, C.int(id), &d.info, &buf[0], errLen) != 0 {
		return nil, fail("memory info", &buf)
	}
	return d, nil
}

// Host says whether values on d are in host memory (Value.Data).
func (d *Device) Host() bool { return !d.cuda }

// Close releases d; values allocated on it stay valid.
func (d *Device) Close() {
	if d != nil && d.info != nil {
		C.vb_release_info(d.api, d.info)
		d.info = nil
	}
}

// Binding is one run's inputs and outputs of a session. It is not safe for
// concurrent use.
type Binding struct {
	api  *C.OrtApi
	sess *C.OrtSession
	b    *C.OrtIoBinding
	outs int // outputs bound
}

// NewBinding creates a binding for session (an OrtSession, see Session)
// through api.
func NewBinding(api, session unsafe.Pointer) (*Binding, error) {
	var buf [errLen]C.char
	b := &Binding{api: (*C.OrtApi)(api), sess: (*C.OrtSession)(session)}
	if C.vb_binding(b.api, b.sess, &b.b, &buf[0], errLen) != 0 {
		return nil, fail("create binding", &buf)
	}
	return b, nil
}

// Close releases the binding (not the values bound).
func (b *Binding) Close() {
	if b != nil && b.b != nil {
		C.vb_release_binding(b.api, b.b)
		b.b = nil
	}
}

// Input binds input name to v, an OrtValue (Tensor, Value.Handle).
func (b *Binding) Input(name string, v unsafe.Pointer) error {
	return b.bind("bind input", name, false, func(cn, e *C.char) C.int {
		return C.vb_bind_input(b.api, b.b, cn, (*C.OrtValue)(v), e, errLen)
	})
}

// Output binds output name to v, an OrtValue the run writes in place.
func (b *Binding) Output(name string, v unsafe.Pointer) error {
	return b.bind("bind output", name, true, func(cn, e *C.char) C.int {
		return C.vb_bind_output(b.api, b.b, cn, (*C.OrtValue)(v), e, errLen)
	})
}

// OutputTo binds output name to d: the run allocates it there, and
// Outputs hands it over.
func (b *Binding) OutputTo(name string, d *Device) error {
	return b.bind("bind to the device output", name, true, func(cn, e *C.char) C.int {
		return C.vb_bind_output_to(b.api, b.b, cn, d.info, e, errLen)
	})
}

// bind calls call with name as a C string and an error buffer, counting
// an output for Outputs.
func (b *Binding) bind(op, name string, output bool, call func(name, err *C.char) C.int) error {
	var buf [errLen]C.char
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if call(cn, &buf[0]) != 0 {
		return fail(op+" "+name, &buf)
	}
	if output {
		b.outs++
	}
	return nil
}

// Run runs the session on the bound values with opts (an OrtRunOptions,
// see RunOptions; nil for none).
func (b *Binding) Run(opts unsafe.Pointer) error {
	var buf [errLen]C.char
	if C.vb_run(b.api, b.sess, (*C.OrtRunOptions)(opts), b.b, &buf[0], errLen) != 0 {
		return fail("run", &buf)
	}
	return nil
}

// Outputs returns the bound outputs of the last run, in the order they
// were bound. Each is a reference of its own: release every one.
func (b *Binding) Outputs() ([]*Value, error) {
	var buf [errLen]C.char
	if b.outs == 0 {
		return nil, nil
	}
	raw := make([]*C.OrtValue, b.outs)
	// raw is Go memory the C side fills with pointers to C memory.
	if C.vb_outputs(b.api, b.b, &raw[0], C.size_t(len(raw)), &buf[0], errLen) != 0 {
		return nil, fail("bound outputs", &buf)
	}
	out := make([]*Value, len(raw))
	for i, v := range raw {
		out[i] = &Value{api: b.api, v: v}
	}
	return out, nil
}

// Value is an OrtValue the runtime allocated, held until Release.
type Value struct {
	api *C.OrtApi
	v   *C.OrtValue
}

// Handle is the OrtValue, to bind as an input (Binding.Input).
func (v *Value) Handle() unsafe.Pointer { return unsafe.Pointer(v.v) }

// Data is the value's memory: host memory for a value on a host Device.
func (v *Value) Data() (unsafe.Pointer, error) {
	var buf [errLen]C.char
	var p unsafe.Pointer
	if C.vb_data(v.api, v.v, &p, &buf[0], errLen) != 0 {
		return nil, fail("tensor data", &buf)
	}
	return p, nil
}

// Release drops the reference; the memory goes back to its allocator with
// the last one. It is safe to call more than once.
func (v *Value) Release() {
	if v != nil && v.v != nil {
		C.vb_release_value(v.api, v.v)
		v.v = nil
	}
}
