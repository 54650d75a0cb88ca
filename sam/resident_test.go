package sam

import (
	"context"
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/vidseg/vidseg/internal/cmem"
	"github.com/vidseg/vidseg/internal/testutil"
)

// A resident model gives what a plain one gives, bit for bit, with the
// encoder's feat_s0, feat_s1 and vision_pos held by ONNX Runtime and bound
// into the decoder and memory attention; closed features are refused.
func TestResidentFeatures(t *testing.T) {
	rt := newTestRuntime(t)
	t.Run("sam2", func(t *testing.T) { residentMatchesPlain(t, rt, testutil.SmallModel(t)) }) // 256 px: the path, not the numbers
	t.Run("edgetam", func(t *testing.T) { residentMatchesPlain(t, rt, testutil.EdgeTAMModel(t)) })
}

func residentMatchesPlain(t *testing.T, rt *Runtime, dir string) {
	plain, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	res, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, Resident: ResidentOn, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	S := plain.Manifest().ImageSize
	if plain.Resident() || !res.Resident() {
		t.Fatalf("Resident(): plain %v, resident %v", plain.Resident(), res.Resident())
	}
	ctx := context.Background()
	image := HashUniform(3*S*S, 5, 2)

	type frameOut struct {
		feats     [4][]float32
		cands     []Candidates
		embeds    []float32
		feat, pos []float32
	}
	runFrame := func(m *Model) (frameOut, *Features) {
		t.Helper()
		var o frameOut
		f, err := m.EncodeImage(ctx, image)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range [][]float32{f.FeatS0, f.FeatS1, f.VisionFeat, f.VisionPos} {
			o.feats[i] = slices.Clone(s)
		}
		prompts := []Prompt{{Coords: [][2]float32{{75, 100}}, Labels: []float32{1}}, {Coords: [][2]float32{{175, 50}}, Labels: []float32{1}}}
		if o.cands, err = m.DecodeMasksBatch(ctx, slices.Concat(f.VisionFeat, f.VisionFeat), f, prompts); err != nil {
			t.Fatal(err)
		}
		masks := slices.Concat(HashUniform(S*S, 7, 10), HashUniform(S*S, 8, 10))
		if o.feat, o.pos, err = m.EncodeMemoryBatch(ctx, f.VisionFeat, masks, []bool{true, false}, []float32{1, 2}); err != nil {
			t.Fatal(err)
		}
		per := m.Manifest().MemoryFrameLen()
		objs := []ObjectMemory{
			{Frames: []MemoryFrame{{Feat: o.feat[:per], Pos: o.pos[:per], Slot: 0}}},
			{Frames: []MemoryFrame{{Feat: o.feat[per:], Pos: o.pos[:per], Slot: 0}}},
		}
		if o.embeds, err = m.AttendMemoryBatch(ctx, f, objs); err != nil {
			t.Fatal(err)
		}
		return o, f
	}
	want, pf := runFrame(plain)
	pf.Close() // holds nothing: does nothing
	if pf.FeatS0 == nil {
		t.Error("Close dropped a plain model's features")
	}
	before := res.Counters()
	got, rf := runFrame(res)
	// The encoder, decoder and memory attention run bound; the memory
	// encoder reads only Go memory.
	if c := res.Counters().Sub(before); c.BoundRuns != 3 || c.ImageEncoder+c.MaskDecoder+c.MemoryAttention != 3 {
		t.Errorf("%+v: want 3 runs through IO binding", c)
	}
	names := []string{"feat_s0", "feat_s1", "vision_feat", "vision_pos"}
	for i := range names {
		if !slices.Equal(got.feats[i], want.feats[i]) {
			t.Errorf("%s differs", names[i])
		}
	}
	// The views are ONNX Runtime's memory, not copies in Go's heap.
	if p, err := rf.held.s0.Data(); err != nil || unsafe.Pointer(unsafe.SliceData(rf.FeatS0)) != p {
		t.Errorf("FeatS0 is not a view of the held value (%v)", err)
	}
	for i := range want.cands {
		for k := range 4 {
			if !slices.Equal(got.cands[i].Masks[k], want.cands[i].Masks[k]) || got.cands[i].IoU[k] != want.cands[i].IoU[k] {
				t.Errorf("object %d token %d: decoder outputs differ", i, k)
			}
		}
	}
	if !slices.Equal(got.feat, want.feat) || !slices.Equal(got.pos, want.pos) {
		t.Error("memory encoder outputs differ")
	}
	if !slices.Equal(got.embeds, want.embeds) {
		t.Error("memory attention outputs differ")
	}

	rf.Close()
	rf.Close()
	if rf.FeatS0 != nil || rf.VisionPos != nil {
		t.Error("closed features still show the released memory")
	}
	_, err = res.DecodeMasks(ctx, rf.VisionFeat, rf, Prompt{Coords: [][2]float32{{1, 1}}, Labels: []float32{1}})
	if !errors.Is(err, errFeaturesClosed) {
		t.Errorf("decode on closed features: %v, want %v", err, errFeaturesClosed)
	}
	if _, err := res.AttendMemory(ctx, rf, []MemoryFrame{{Feat: got.feat[:res.Manifest().MemoryFrameLen()], Pos: got.pos[:res.Manifest().MemoryFrameLen()]}}, nil); !errors.Is(err, errFeaturesClosed) {
		t.Errorf("attention on closed features: %v, want %v", err, errFeaturesClosed)
	}
}

func TestParseResident(t *testing.T) {
	for in, want := range map[string]string{"": ResidentAuto, "auto": ResidentAuto, "on": ResidentOn, "off": ResidentOff} {
		if got, err := ParseResident(in); err != nil || got != want {
			t.Errorf("ParseResident(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseResident("yes"); err == nil {
		t.Error("ParseResident(yes): no error")
	}
}

// Closed features go back to ONNX Runtime's allocator: encoding frame
// after frame and closing each keeps the C heap flat (each frame's held
// values are 1 MiB at 256 px, 16 at 1024: not closing them grows it by
// 8 MiB here).
func TestResidentFeaturesReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the image encoder many times")
	}
	// Without an arena every tensor is malloc'd and freed, so what is not
	// released shows in the C heap (an arena would reuse its free space).
	m, err := Open(newTestRuntime(t), testutil.SmallModel(t), Options{Provider: ProviderCPU, Threads: 2, Resident: ResidentOn, noSharedArena: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	S := m.Manifest().ImageSize
	image := HashUniform(3*S*S, 9, 2)
	frame := func() {
		f, err := m.EncodeImage(ctx, image)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	frame() // one-time allocations
	frame()
	before := cmem.InUse()
	const n = 8
	for range n {
		frame()
	}
	growth := float64(cmem.InUse()-before) / (1 << 20)
	t.Logf("C heap in use grew %.1f MiB over %d resident frames, each closed", growth, n)
	if growth > 2 {
		t.Fatalf("C heap grew by %.1f MiB over %d frames: held features are not released", growth, n)
	}
}

// Resident by default (auto, as on CUDA), a model whose first bound run
// fails passes features through Go memory and works; asked for
// explicitly, resident stays on.
func TestResidentAutoFallsBack(t *testing.T) {
	rt, dir := newTestRuntime(t), testutil.SmallModel(t)
	probed := 0
	failing := func(*Model) error { probed++; return errors.New("bind output feat_s0 to the device: no allocator") }
	m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, residentProbe: failing, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if probed != 1 || m.Resident() {
		t.Fatalf("probed %d times, resident %v after a failed probe; want 1, false", probed, m.Resident())
	}
	S := m.Manifest().ImageSize
	f, err := m.EncodeImage(context.Background(), HashUniform(3*S*S, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if f.held != nil || len(f.FeatS0) == 0 {
		t.Error("features are held after the fallback")
	}
	if c := m.Counters(); c.BoundRuns != 0 || c.ImageEncoder != 1 {
		t.Errorf("%+v: want one plain encoder run (the probe is not counted)", c)
	}

	// The real probe passes on the CPU.
	ok, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 2, residentProbe: (*Model).probeDefault, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if !ok.Resident() {
		t.Error("the default probe failed on the CPU")
	}
	if c := ok.Counters(); c != (Counters{}) {
		t.Errorf("%+v counted after the probe; want nothing", c)
	}
	if ok.attn.sess != nil {
		t.Error("the probe opened the memory attention's float32 session")
	}
}

// A bound run takes the model's run options, through which a cancelled
// context stops a run: with the terminate flag set the encoder refuses to
// run and holds nothing, and once it is reset the next call runs. A
// context already done stops the call before it runs.
func TestResidentCancel(t *testing.T) {
	m, err := Open(newTestRuntime(t), testutil.SmallModel(t), Options{Provider: ProviderCPU, Threads: 2, Resident: ResidentOn, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	S := m.Manifest().ImageSize
	image := HashUniform(3*S*S, 1, 2)
	if err := m.runOpts.Terminate(); err != nil {
		t.Fatal(err)
	}
	_, err = m.EncodeImage(context.Background(), image)
	if err == nil {
		t.Fatal("the encoder ran with the terminate flag set: the bound run does not take the run options")
	}
	if n := m.HeldFeatures(); n != 0 {
		t.Errorf("%d frames held after a terminated run", n)
	}
	if err := m.runOpts.UnsetTerminate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.EncodeImage(ctx, image); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the call: %v", err)
	}
	f, err := m.EncodeImage(context.Background(), image)
	if err != nil {
		t.Fatalf("after a terminated run: %v", err)
	}
	f.Close()
	if c := m.Counters(); c.BoundRuns != 1 || c.ImageEncoder != 1 {
		t.Errorf("%+v: want the one finished run, bound", c)
	}
}
