package sam

import (
	"context"
	"syscall"
	"testing"
)

// minorFaults is the process's minor page faults so far: pages mapped in
// on first touch, which a reused arena does not cause again.
func minorFaults(t *testing.T) int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestSharedArenaReusesMemory checks that the sessions allocate from the
// Runtime's shared arena: once warm, an image-encoder run faults in a small
// fraction of the pages it faults in with no arena, where every tensor is
// mapped afresh (see Runtime.arena and docs/runtime.md "Memory").
func TestSharedArenaReusesMemory(t *testing.T) {
	rt := newTestRuntime(t)
	if rt.arenaErr != nil {
		t.Fatalf("shared arena not registered: %v", rt.arenaErr)
	}
	dir := fixtureDir(t)
	image := HashUniform(3*1024*1024, 1, 2)
	faultsPerRun := func(opts Options) int64 {
		t.Helper()
		m, err := Open(rt, dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.sharedArena == opts.noSharedArena {
			t.Fatalf("model opened with sharedArena %v, want %v", m.sharedArena, !opts.noSharedArena)
		}
		ctx := context.Background()
		// The first run prepacks weights and grows the arena.
		if _, err := m.EncodeImage(ctx, image); err != nil {
			t.Fatal(err)
		}
		f0 := minorFaults(t)
		if _, err := m.EncodeImage(ctx, image); err != nil {
			t.Fatal(err)
		}
		return minorFaults(t) - f0
	}
	base := Options{Provider: ProviderCPU, Threads: 2, Logger: quiet}
	withArena := faultsPerRun(base)
	base.noSharedArena = true
	none := faultsPerRun(base)
	t.Logf("minor page faults per image-encoder run: shared arena %d, no arena %d", withArena, none)
	// Counted in faults, not time: any machine speed. With transparent huge
	// pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) a fault maps 2 MiB, so
	// the no-arena count is ~512x lower (hundreds) but the ratio holds.
	if none < 100 {
		t.Fatalf("without an arena a run faulted in only %d pages: the comparison shows nothing", none)
	}
	if withArena*4 > none {
		t.Errorf("with the shared arena a warm run faulted in %d pages, without it %d: the arena is not reused", withArena, none)
	}

	// vidseg's bf16 attention operator allocates from the same arena: its
	// packed operands and scratch are reused too (they were malloc'd per
	// call and per task, and faulted in afresh every run).
	if accel, err := rt.BF16(); err != nil || !accel {
		t.Logf("bf16 operators not checked: accelerated %v, %v", accel, err)
		return
	}
	bf16 := Options{Provider: ProviderCPU, Threads: 2, Logger: quiet, Attention: AttentionBF16}
	withBF16 := faultsPerRun(bf16)
	t.Logf("minor page faults per image-encoder run with bf16 attention and the shared arena: %d", withBF16)
	// Its attentions replace float32 ones that allocate from the arena, so
	// a warm run faults in no more than float32's (1.4 k against 7.4 k here;
	// 34 k when the operator malloc'd its buffers).
	if withBF16 > 2*withArena {
		t.Errorf("with bf16 attention a warm run faulted in %d pages, in float32 %d: the operator's buffers are not reused", withBF16, withArena)
	}
}
