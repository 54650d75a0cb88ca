// Matrix product with bfloat16 products (AVX-512 BF16 VDPBF16PS) and
// float32 accumulation, for the image encoder's linear layers.
//
// Why: those layers are most of the encoder's 283 GFLOP per frame and ONNX
// Runtime's float32 GEMM runs them near the float32 FMA peak (212 GFLOP/s
// on the 2-core machines); VDPBF16PS does twice the products per cycle.
//
// Rounding: a and b are rounded to bfloat16 (ties to even), products are
// exact in float32 and accumulate in float32 from the bias. The portable
// path rounds the same way and differs only in summation order.
#include "gemm.h"

#include <immintrin.h>
#include <string.h>

#include "kernel.h"
#include "tile.h"

static int pairs(int k) { return (k + 1) / 2; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

int vs_gemm_groups(int n) { return (n + 31) / 32 * 2; }

size_t vs_gemm_bp_bytes(int k, int n) { return (size_t)vs_gemm_groups(n) * pairs(k) * 16 * 2 * sizeof(uint16_t); }

void vs_gemm_pack_b(const vs_gemm *g, int g0, int g1) {
	int kp = pairs(g->k);
	for (int grp = g0; grp < g1; grp++) {
		uint16_t *o = g->bp + (size_t)grp * kp * 32;
		for (int p = 0; p < kp; p++) {
			for (int h = 0; h < 2; h++) {
				int row = 2 * p + h;
				for (int t = 0; t < 16; t++) {
					int col = grp * 16 + t;
					o[(p * 16 + t) * 2 + h] = row < g->k && col < g->n ? vs_bf16(g->b[(size_t)row * g->n + col]) : 0;
				}
			}
		}
	}
}

size_t vs_gemm_scratch_bytes(const vs_gemm *g) {
	return align64(sizeof(uint32_t) * VS_MBLOCK * pairs(g->k)) + 64;
}

// pack_a writes rows [r0, r1) of a as bfloat16 pairs, [row][k/2], a zero
// after an odd k.
VS_FAST static void pack_a(const vs_gemm *g, int r0, int r1, uint32_t *o) {
	int k = g->k, kp = pairs(k);
	for (int r = r0; r < r1; r++) {
		const float *s = g->a + (size_t)r * k;
		uint32_t *d = o + (size_t)(r - r0) * kp;
		int p = 0;
		// VCVTNE2PS2BF16 keeps element order: the second operand's 16
		// floats become the low half.
		for (; p + 16 <= k / 2; p += 16)
			_mm512_storeu_si512(d + p, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + 2 * p + 16),
			                                                         _mm512_loadu_ps(s + 2 * p)));
		for (; p < kp; p++)
			d[p] = vs_bf16(s[2 * p]) | (uint32_t)(2 * p + 1 < k ? vs_bf16(s[2 * p + 1]) : 0) << 16;
	}
}

static __mmask16 cols_mask(int cols) { return cols >= 16 ? 0xffff : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1); }

VS_FAST void vs_gemm_rows_fast(const vs_gemm *g, int r0, int r1, void *scratch) {
	int kp = pairs(g->k), rows = r1 - r0;
	uint32_t *ap = scratch;
	pack_a(g, r0, r1, ap);
	// Each 32-column panel of b (kp x 128 bytes) is read by every row tile
	// of the block in turn.
	for (int n0 = 0; n0 < g->n; n0 += 32) {
		const __m512bh *b0 = (const __m512bh *)(g->bp + (size_t)(n0 / 16) * kp * 32);
		const __m512bh *b1 = b0 + kp;
		int cols = g->n - n0;
		const float *bias = g->bias != NULL ? g->bias + n0 : NULL;
		for (int r = 0; r < rows; r += VS_ROWS) {
			int rn = rows - r < VS_ROWS ? rows - r : VS_ROWS;
			vs_tile(ap + (size_t)r * kp, kp, rn, b0, b1, bias, cols_mask(cols), cols_mask(cols - 16),
			     g->c + (size_t)(r0 + r) * g->n + n0, g->n);
		}
	}
}

void vs_gemm_rows_portable(const vs_gemm *g, int r0, int r1, void *scratch) {
	(void)scratch;
	int kp = pairs(g->k);
	for (int r = r0; r < r1; r++) {
		const float *a = g->a + (size_t)r * g->k;
		float *c = g->c + (size_t)r * g->n;
		for (int j = 0; j < g->n; j++) {
			const uint16_t *b = g->bp + ((size_t)(j / 16) * kp * 16 + j % 16) * 2;
			float acc = g->bias != NULL ? g->bias[j] : 0;
			for (int i = 0; i < g->k; i++) acc += vs_bf16f(vs_bf16(a[i])) * vs_bf16f(b[(i / 2) * 32 + i % 2]);
			c[j] = acc;
		}
	}
}
