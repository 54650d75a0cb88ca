package sam

import "log/slog"

// bf16Fallback returns the precisions a model runs with. The bf16
// operators' portable kernels, all a CPU without AVX-512 BF16 has, are
// about a hundred times slower than float32 at SAM 2's sizes (a 25-frame
// clip estimated at three hours): on such a CPU a bf16 option falls back to
// float32, with one log line saying why, instead of running for hours.
// portable (Options.PortableBF16) keeps the portable kernels. When the
// operators cannot load at all (opsErr), the options stay and opening the
// graphs reports that.
func bf16Fallback(attention, matmul string, accelerated bool, opsErr error, portable bool, log *slog.Logger) (string, string) {
	if attention != AttentionBF16 && matmul != MatMulBF16 || accelerated || opsErr != nil || portable {
		return attention, matmul
	}
	log.Warn("sam: this CPU has no AVX-512 BF16: running fp32 instead of the requested bf16 (its portable kernels would take hours per clip; vidseg doctor shows the CPU check)",
		"attention", attention, "matmul", matmul)
	return AttentionFP32, MatMulFP32
}
