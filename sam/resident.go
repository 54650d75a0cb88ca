package sam

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vidseg/vidseg/sam/internal/iobind"
)

// Values of [Options].Resident.
const (
	ResidentAuto = "auto" // on with CUDA, off on the CPU
	ResidentOn   = "on"
	ResidentOff  = "off"
)

// ParseResident checks a Resident value; "" means ResidentAuto.
func ParseResident(v string) (string, error) {
	switch v {
	case "", ResidentAuto:
		return ResidentAuto, nil
	case ResidentOn, ResidentOff:
		return v, nil
	}
	return "", fmt.Errorf("unknown resident setting %q (want auto, on or off)", v)
}

// residentDevice is where a model's resident features live, nil when
// they are Go memory. anyProvider makes ResidentAuto resident on the CPU
// too (tests); cudaDevice is the CUDA provider's device_id.
func residentDevice(rt *Runtime, resident, provider string, anyProvider bool, cudaDevice int) (*iobind.Device, error) {
	if resident == ResidentOff || (resident == ResidentAuto && provider != ProviderCUDA && !anyProvider) {
		return nil, nil
	}
	if rt.api == nil {
		return nil, fmt.Errorf("resident features need ONNX Runtime's C API: %w", rt.arenaErr)
	}
	if err := iobind.CheckLayout(); err != nil {
		return nil, fmt.Errorf("resident features: %w", err)
	}
	d, err := iobind.NewDevice(rt.api, provider == ProviderCUDA, cudaDevice)
	if err != nil {
		return nil, fmt.Errorf("resident features: %w", err)
	}
	return d, nil
}

// cudaDeviceID is the device_id of the CUDA provider's options (0 unless
// set).
func cudaDeviceID(opts map[string]string) (int, error) {
	v, ok := opts["device_id"]
	if !ok {
		return 0, nil
	}
	id, err := strconv.Atoi(v)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("CUDA option device_id %q: want a device number", v)
	}
	return id, nil
}

// probeResident runs a blank frame through the encoder and decoder with
// held features (probe, if not nil, instead). When that fails the model
// passes features through Go memory, as before, and says why: a default
// must not stop a provider that runs the graphs from working. The runs
// also warm the sessions up; they are not counted.
func (m *Model) probeResident(probe func(*Model) error) {
	if probe == nil {
		probe = (*Model).probeDefault
	}
	err := probe(m)
	m.count.reset()
	if err != nil {
		m.log.Warn("sam: features held on the device failed a first run; passing them through Go memory (--resident off silences this)", "provider", m.provider, "err", err)
		m.dev.Close()
		m.dev = nil
	}
}

// probeDefault runs a blank frame through every graph that reads held
// features: the memory attention (on a blank memory frame) and the decoder.
func (m *Model) probeDefault() error {
	d := dimsOf(m.man)
	ctx := context.Background()
	f, err := m.EncodeImage(ctx, make([]float32, 3*d.S*d.S))
	if err != nil {
		return err
	}
	defer f.Close()
	// A bfloat16 frame, as the tracker gives them: a float32 one would open
	// the memory attention's second session.
	n := d.memPer()
	embed, err := m.AttendMemory(ctx, f, []MemoryFrame{{FeatBF16: make([]uint16, n), Pos: make([]float32, n)}}, nil)
	if err != nil {
		return err
	}
	_, err = m.DecodeMasks(ctx, embed, f, Prompt{})
	return err
}

// HeldFeatures is how many frames' features ONNX Runtime holds for the
// model (Options.Resident): encoded and not yet closed.
func (m *Model) HeldFeatures() int { return int(m.held.Load()) }

// Resident reports whether the model keeps image features as ONNX Runtime
// values on its provider's device (Options.Resident).
func (m *Model) Resident() bool { return m.dev != nil }

// heldFeatures are a frame's encoder outputs that ONNX Runtime holds on
// the model's device, for a resident model.
type heldFeatures struct {
	s0, s1, pos *iobind.Value
	closed      bool
	live        *atomic.Int64 // the model's count of held features
}

// Close releases what ONNX Runtime holds of the features of a resident
// model (Options.Resident): the features are then unusable, and so is
// any FeatS0, FeatS1 or VisionPos slice taken from them (on the CPU those
// are views of the released memory: do not keep them, nor copies of the
// struct). Features of other models hold nothing, and Close does nothing.
// Close them before the Runtime; it is safe to call more than once and
// from any goroutine that owns f.
func (f *Features) Close() {
	if f == nil || f.held == nil || f.held.closed {
		return
	}
	h := f.held
	h.closed = true
	h.live.Add(-1)
	h.s0.Release()
	h.s1.Release()
	h.pos.Release()
	// On a host device these were views of the values' memory.
	f.FeatS0, f.FeatS1, f.VisionPos = nil, nil, nil
}

// heldS0S1 are the held feat_s0 and feat_s1, nil when f holds nothing.
func (f *Features) heldS0S1() (s0, s1 *iobind.Value) {
	if f.held == nil {
		return nil, nil
	}
	return f.held.s0, f.held.s1
}

// heldPos is the held vision_pos, nil when f holds nothing.
func (f *Features) heldPos() *iobind.Value {
	if f.held == nil {
		return nil
	}
	return f.held.pos
}

// errFeaturesClosed is the error of a graph given closed features.
var errFeaturesClosed = errors.New("the frame's features were closed")

// usableFeatures fails for closed features.
func usableFeatures(graph string, f *Features) error {
	if f.held != nil && f.held.closed {
		return fmt.Errorf("%s: %w", graph, errFeaturesClosed)
	}
	return nil
}

// hold sets input i of r to v when the features are resident, else to
// data (Go memory).
func (r *run) hold(i int, name string, v *iobind.Value, data []float32, shape ...int64) {
	if v == nil {
		r.input(i, name, data, shape...)
		return
	}
	if r.held == nil {
		r.held = make([]unsafe.Pointer, len(r.in))
	}
	r.names[i] = name
	r.held[i] = v.Handle()
}

// toDevice makes output i of r a value ONNX Runtime allocates on the
// model's device, handed over in r.kept after the run.
func (r *run) toDevice(i int, name string) {
	if r.device == nil {
		r.device = make([]bool, len(r.out))
	}
	r.outNames[i] = name
	r.device[i] = true
}

// bound says whether r needs IO binding: a held input or a device output.
func (r *run) bound() bool { return r.held != nil || r.device != nil }

// runBound runs r on sess through an IO binding, keeping the outputs
// bound to the device in r.kept.
func (m *Model) runBound(ctx context.Context, r *run, sess *ort.DynamicAdvancedSession) (err error) {
	b, err := iobind.NewBinding(m.rt.api, iobind.Session(sess))
	if err != nil {
		return fmt.Errorf("%s: %w", r.graph, err)
	}
	defer b.Close()
	for i, v := range r.in {
		h := unsafe.Pointer(nil)
		if r.held != nil {
			h = r.held[i]
		}
		if h == nil {
			h = iobind.Tensor(v)
		}
		if err := b.Input(r.names[i], h); err != nil {
			return fmt.Errorf("%s: %w", r.graph, err)
		}
	}
	for i, v := range r.out {
		if r.device != nil && r.device[i] {
			err = b.OutputTo(r.outNames[i], m.dev)
		} else {
			err = b.Output(r.outNames[i], iobind.Tensor(v))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.graph, err)
		}
	}
	if err := m.cancellable(ctx, r.graph, func(opts *ort.RunOptions) error {
		return b.Run(iobind.RunOptions(opts))
	}); err != nil {
		return err
	}
	outs, err := b.Outputs()
	if err != nil {
		return fmt.Errorf("%s: %w", r.graph, err)
	}
	r.kept = make([]*iobind.Value, len(r.out))
	for i, v := range outs {
		if r.device != nil && r.device[i] {
			r.kept[i] = v
		} else {
			v.Release() // a second reference to r.out[i]
		}
	}
	return nil
}
