package sam

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/testutil"
)

// TestBF16FallsBackWithoutAVX512 opens the small fixture with both bf16
// options and an injected CPU answer: without AVX-512 BF16 the model runs
// fp32 and says so once in the log; with it, or with PortableBF16, the
// options stay.
func TestBF16FallsBackWithoutAVX512(t *testing.T) {
	rt := newTestRuntime(t)
	if _, err := rt.BF16(); err != nil {
		t.Skipf("bf16 operators unavailable: %v", err)
	}
	dir := filepath.Join(testutil.RepoRoot(t), testutil.SmallModelDir)
	for _, tc := range []struct {
		name          string
		fast          bool
		portable      bool
		want          string
		wantFallbacks int
	}{
		{"no_avx512_bf16", false, false, AttentionFP32, 1},
		{"no_avx512_bf16_portable", false, true, AttentionBF16, 0},
		{"avx512_bf16", true, false, AttentionBF16, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			m, err := Open(rt, dir, Options{Provider: ProviderCPU, Threads: 1, Attention: AttentionBF16, MatMul: MatMulBF16,
				PortableBF16: tc.portable, cpuBF16: func() bool { return tc.fast }, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Attention() != tc.want || m.MatMul() != tc.want {
				t.Errorf("attention %s, matmul %s; want both %s", m.Attention(), m.MatMul(), tc.want)
			}
			if n := strings.Count(logs.String(), "running fp32 instead of the requested bf16"); n != tc.wantFallbacks {
				t.Errorf("%d fallback log lines, want %d:\n%s", n, tc.wantFallbacks, logs.String())
			}
		})
	}
}
