// The register tile both kernels share (see kernel.c, gemm.c).
#ifndef VIDSEG_BF16OP_TILE_H
#define VIDSEG_BF16OP_TILE_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VS_FAST __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

// Rows per register tile: 12 rows x 32 columns = 24 accumulators.
#define VS_ROWS 12

// vs_tile computes c[rows][up to 32 columns] = a[rows] . b (+ bias) over
// every pair of k, rows <= VS_ROWS; m0 and m1 mask the two 16-column halves.
// The attention's Q.K^T and the GEMM both run on it.
VS_FAST static inline void vs_tile(const uint32_t *a, int kp, int rows, const __m512bh *b0, const __m512bh *b1,
                                   const float *bias, __mmask16 m0, __mmask16 m1, float *c, int ldc) {
	__m512 z0 = _mm512_setzero_ps(), z1 = _mm512_setzero_ps();
	if (bias != NULL) {
		z0 = _mm512_maskz_loadu_ps(m0, bias);
		z1 = _mm512_maskz_loadu_ps(m1, bias + 16);
	}
	__m512 acc[VS_ROWS][2];
	const uint32_t *ar[VS_ROWS];
	for (int r = 0; r < VS_ROWS; r++) {
		acc[r][0] = z0;
		acc[r][1] = z1;
		ar[r] = a + (size_t)(r < rows ? r : 0) * kp;
	}
	for (int p = 0; p < kp; p++) {
		__m512bh x0 = b0[p], x1 = b1[p];
		for (int r = 0; r < VS_ROWS; r++) {
			__m512bh x = (__m512bh)_mm512_set1_epi32((int)ar[r][p]);
			acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, x0);
			acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, x1);
		}
	}
	for (int r = 0; r < rows; r++) {
		_mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, acc[r][0]);
		_mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, acc[r][1]);
	}
}

#endif
