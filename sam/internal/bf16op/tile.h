// The register tile both kernels share (see kernel.c, gemm.c).
#ifndef VIDSEG_BF16OP_TILE_H
#define VIDSEG_BF16OP_TILE_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VS_FAST __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

// exp(x) for x <= 0: 2^(x log2 e) split into integer and fraction, degree 6
// polynomial for 2^f on [-0.5, 0.5] (relative error below 2e-7).
VS_FAST static inline __m512 vs_exp512(__m512 x) {
	x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
	__m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f));
	__m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 f = _mm512_sub_ps(t, n);
	__m512 p = _mm512_set1_ps(1.5353362e-4f);
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3398874e-3f));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

// Rows per register tile: 12 rows x 32 columns = 24 accumulators.
#define VS_ROWS 12

// VS_TILE_PRODUCTS adds a[rows] . b over every pair of k to the register
// tile acc[VS_ROWS][2], reading row r of a at ar[r]. A macro, not a
// function: the accumulators must stay in registers (a function taking
// them cost the GEMM a quarter of its speed).
#define VS_TILE_PRODUCTS(acc, ar, kp, b0, b1)                                        \
	for (int p_ = 0; p_ < (kp); p_++) {                                           \
		__m512bh x0_ = (b0)[p_], x1_ = (b1)[p_];                                  \
		for (int r_ = 0; r_ < VS_ROWS; r_++) {                                    \
			__m512bh x_ = (__m512bh)_mm512_set1_epi32((int)(ar)[r_][p_]);         \
			(acc)[r_][0] = _mm512_dpbf16_ps((acc)[r_][0], x_, x0_);              \
			(acc)[r_][1] = _mm512_dpbf16_ps((acc)[r_][1], x_, x1_);              \
		}                                                                         \
	}

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
	VS_TILE_PRODUCTS(acc, ar, kp, b0, b1)
	for (int r = 0; r < rows; r++) {
		_mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, acc[r][0]);
		_mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, acc[r][1]);
	}
}

// vs_tile_rows is vs_tile for the pointwise convolution (gemm.c): row r
// starts from rbias[r] (NULL: 0) plus its residual row res + r*ldres (NULL:
// none) instead of a bias per column.
VS_FAST static inline void vs_tile_rows(const uint32_t *a, int kp, int rows, const __m512bh *b0, const __m512bh *b1,
                                        const float *rbias, const float *res, int ldres, __mmask16 m0, __mmask16 m1,
                                        float *c, int ldc) {
	__m512 acc[VS_ROWS][2];
	const uint32_t *ar[VS_ROWS];
	for (int r = 0; r < VS_ROWS; r++) {
		__m512 z = r < rows && rbias != NULL ? _mm512_set1_ps(rbias[r]) : _mm512_setzero_ps();
		acc[r][0] = acc[r][1] = z;
		if (res != NULL && r < rows) {
			acc[r][0] = _mm512_add_ps(z, _mm512_maskz_loadu_ps(m0, res + (size_t)r * ldres));
			acc[r][1] = _mm512_add_ps(z, _mm512_maskz_loadu_ps(m1, res + (size_t)r * ldres + 16));
		}
		ar[r] = a + (size_t)(r < rows ? r : 0) * kp;
	}
	VS_TILE_PRODUCTS(acc, ar, kp, b0, b1)
	for (int r = 0; r < rows; r++) {
		_mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, acc[r][0]);
		_mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, acc[r][1]);
	}
}

#endif
