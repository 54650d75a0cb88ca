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
#include <math.h>
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
					size_t at = g->transb ? (size_t)col * g->k + row : (size_t)row * g->n + col;
					o[(p * 16 + t) * 2 + h] = row < g->k && col < g->n ? vs_bf16(g->b[at]) : 0;
				}
			}
		}
	}
}

size_t vs_gemm_scratch_bytes(const vs_gemm *g) {
	return align64(sizeof(uint32_t) * VS_MBLOCK * pairs(g->k)) + 64;
}

// pack_rows writes rows [r0, r1) of a [rows][k] as bfloat16 pairs,
// [row][k/2], a zero after an odd k.
VS_FAST static void pack_rows(const float *a, int k, int r0, int r1, uint32_t *o) {
	int kp = pairs(k);
	for (int r = r0; r < r1; r++) {
		const float *s = a + (size_t)r * k;
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

// relu_rows sets the n values at c to max(0, c), after a block's rows are
// computed (still in L2).
VS_FAST static void relu_rows(float *c, size_t n) {
	size_t i = 0;
	for (; i + 16 <= n; i += 16) _mm512_storeu_ps(c + i, _mm512_max_ps(_mm512_loadu_ps(c + i), _mm512_setzero_ps()));
	for (; i < n; i++) c[i] = c[i] > 0 ? c[i] : 0;
}

VS_FAST void vs_gemm_rows_fast(const vs_gemm *g, int r0, int r1, void *scratch) {
	int kp = pairs(g->k), rows = r1 - r0;
	uint32_t *ap = scratch;
	pack_rows(g->a, g->k, r0, r1, ap);
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
	if (g->relu) relu_rows(g->c + (size_t)r0 * g->n, (size_t)rows * g->n);
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
			c[j] = g->relu && !(acc > 0) ? 0 : acc;
		}
	}
}

size_t vs_conv_wp_bytes(int cout, int cin) { return (size_t)cout * pairs(cin) * sizeof(uint32_t); }

VS_FAST void vs_conv_pack_w(const float *w, int cout, int cin, uint32_t *wp) { pack_rows(w, cin, 0, cout, wp); }

size_t vs_conv_scratch_bytes(int cin) { return (size_t)(VS_CONV_COLS / 16) * pairs(cin) * 32 * sizeof(uint16_t); }

// VCVTNE2PS2BF16 puts its second operand in the low 16 lanes, the first in
// the high ones; this permutation interleaves them element by element, the
// packed-pair layout of b.
VS_FAST static inline __m512i interleave_bf16(__m512 lo, __m512 hi) {
	const __m512i mix = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
	                                     21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	return _mm512_permutexvar_epi16(mix, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// pack_x writes pixels [j0, j1) of x [cin][p] as vs_gemm_pack_b does b's
// columns: groups of 16 pixels, [pair of channels][16][2], zeros past the
// ends. Rows 2i and 2i+1 are converted together and interleaved.
VS_FAST static void pack_x(const float *x, int cin, int p, int j0, int j1, uint16_t *o) {
	int kp = pairs(cin);
	int groups = (j1 - j0 + 31) / 32 * 2;
	for (int grp = 0; grp < groups; grp++) {
		int j = j0 + grp * 16;
		__mmask16 m = cols_mask(j1 - j);
		uint16_t *d = o + (size_t)grp * kp * 32;
		for (int i = 0; i < kp; i++) {
			const float *lo = x + (size_t)(2 * i) * p + j;
			__m512 a = _mm512_maskz_loadu_ps(m, lo);
			__m512 b = 2 * i + 1 < cin ? _mm512_maskz_loadu_ps(m, lo + p) : _mm512_setzero_ps();
			_mm512_storeu_si512(d + (size_t)i * 32, interleave_bf16(a, b));
		}
	}
}

VS_FAST void vs_conv_cols_fast(const vs_conv *c, int j0, int j1, void *scratch) {
	int kp = pairs(c->cin);
	uint16_t *xp = scratch;
	pack_x(c->x, c->cin, c->p, j0, j1, xp);
	// Row tiles outside, pixel panels inside: a tile's 12 weight rows stay
	// in L1 while the block's packed pixels (98 KB at 384 input channels,
	// 196 KB at 768) are read from L2.
	for (int r = 0; r < c->cout; r += VS_ROWS) {
		int rn = c->cout - r < VS_ROWS ? c->cout - r : VS_ROWS;
		for (int n0 = 0; n0 < j1 - j0; n0 += 32) {
			const __m512bh *b0 = (const __m512bh *)(xp + (size_t)(n0 / 16) * kp * 32);
			int cols = j1 - j0 - n0;
			size_t at = (size_t)r * c->p + j0 + n0;
			vs_tile_rows(c->wp + (size_t)r * kp, kp, rn, b0, b0 + kp, c->bias != NULL ? c->bias + r : NULL,
			             c->res != NULL ? c->res + at : NULL, c->p, cols_mask(cols), cols_mask(cols - 16), c->y + at,
			             c->p);
		}
	}
}

void vs_conv_cols_portable(const vs_conv *c, int j0, int j1) {
	for (int o = 0; o < c->cout; o++) {
		const float *w = c->w + (size_t)o * c->cin;
		for (int j = j0; j < j1; j++) {
			float acc = c->bias != NULL ? c->bias[o] : 0;
			if (c->res != NULL) acc += c->res[(size_t)o * c->p + j];
			for (int i = 0; i < c->cin; i++) acc += vs_bf16f(vs_bf16(w[i])) * vs_bf16f(vs_bf16(c->x[(size_t)i * c->p + j]));
			c->y[(size_t)o * c->p + j] = acc;
		}
	}
}

size_t vs_mlp_scratch_bytes(int c, int h) {
	return align64(vs_conv_scratch_bytes(c)) + align64(vs_conv_scratch_bytes(h));
}

// gelu512 is the exact GELU, x (1 + erf(x / sqrt 2)) / 2, with erf from
// Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, under the
// bfloat16 rounding that follows).
VS_FAST static inline __m512 gelu512(__m512 x) {
	__m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
	__m512 a = _mm512_abs_ps(z);
	__m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
	__m512 q = _mm512_set1_ps(1.061405429f);
	q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.453152027f));
	q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.421413741f));
	q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.284496736f));
	q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.254829592f));
	q = _mm512_mul_ps(q, t);
	__m512 e = _mm512_fnmadd_ps(q, vs_exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)), _mm512_set1_ps(1.0f));
	// erf is odd: take z's sign.
	e = _mm512_mask_sub_ps(e, _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps(), e);
	__m512 half = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
	return _mm512_fmadd_ps(half, e, half);
}

// hidden_tile computes hidden rows [r, r+rows) for one 32-pixel panel,
// applies the bias and GELU and stores them packed, as pairs of rows, at
// pair r/2 of the panel's two groups in hp (kp2 pairs per group); r is
// even, a missing second row of the last pair is zero.
VS_FAST static inline void hidden_tile(const vs_mlp *m, int kp1, int kp2, int r, int rows, const __m512bh *b0,
                                       uint16_t *hp0, uint16_t *hp1) {
	__m512 acc[VS_ROWS][2];
	const uint32_t *ar[VS_ROWS];
	for (int i = 0; i < VS_ROWS; i++) {
		acc[i][0] = acc[i][1] = i < rows && m->b1 != NULL ? _mm512_set1_ps(m->b1[r + i]) : _mm512_setzero_ps();
		ar[i] = m->w1p + (size_t)(r + (i < rows ? i : 0)) * kp1;
	}
	VS_TILE_PRODUCTS(acc, ar, kp1, b0, b0 + kp1)
	for (int i = 0; i < rows; i += 2) {
		for (int half = 0; half < 2; half++) {
			__m512 lo = gelu512(acc[i][half]);
			__m512 hi = i + 1 < rows ? gelu512(acc[i + 1][half]) : _mm512_setzero_ps();
			uint16_t *d = half == 0 ? hp0 : hp1;
			_mm512_storeu_si512(d + (size_t)((r + i) / 2) * 32, interleave_bf16(lo, hi));
		}
	}
}

VS_FAST void vs_mlp_cols_fast(const vs_mlp *m, int j0, int j1, void *scratch) {
	int kp1 = pairs(m->c), kp2 = pairs(m->h), n = j1 - j0;
	uint16_t *xp = scratch;
	uint16_t *hp = (uint16_t *)((char *)scratch + align64(vs_conv_scratch_bytes(m->c)));
	pack_x(m->x, m->c, m->p, j0, j1, xp);
	for (int r = 0; r < m->h; r += VS_ROWS) {
		int rn = m->h - r < VS_ROWS ? m->h - r : VS_ROWS;
		for (int n0 = 0; n0 < n; n0 += 32) {
			uint16_t *g0 = hp + (size_t)(n0 / 16) * kp2 * 32;
			hidden_tile(m, kp1, kp2, r, rn, (const __m512bh *)(xp + (size_t)(n0 / 16) * kp1 * 32), g0, g0 + (size_t)kp2 * 32);
		}
	}
	for (int r = 0; r < m->c; r += VS_ROWS) {
		int rn = m->c - r < VS_ROWS ? m->c - r : VS_ROWS;
		for (int n0 = 0; n0 < n; n0 += 32) {
			const __m512bh *b0 = (const __m512bh *)(hp + (size_t)(n0 / 16) * kp2 * 32);
			size_t at = (size_t)r * m->p + j0 + n0;
			vs_tile_rows(m->w2p + (size_t)r * kp2, kp2, rn, b0, b0 + kp2, m->b2 != NULL ? m->b2 + r : NULL,
			             m->res != NULL ? m->res + at : NULL, m->p, cols_mask(n - n0), cols_mask(n - n0 - 16), m->y + at,
			             m->p);
		}
	}
}

void vs_mlp_cols_portable(const vs_mlp *m, int j0, int j1, float *hidden) {
	for (int j = j0; j < j1; j++) {
		for (int o = 0; o < m->h; o++) {
			float acc = m->b1 != NULL ? m->b1[o] : 0;
			for (int i = 0; i < m->c; i++)
				acc += vs_bf16f(vs_bf16(m->w1[(size_t)o * m->c + i])) * vs_bf16f(vs_bf16(m->x[(size_t)i * m->p + j]));
			hidden[o] = vs_bf16f(vs_bf16(0.5f * acc * (1.0f + erff(acc * 0.70710678118654752f))));
		}
		for (int o = 0; o < m->c; o++) {
			float acc = m->b2 != NULL ? m->b2[o] : 0;
			if (m->res != NULL) acc += m->res[(size_t)o * m->p + j];
			for (int i = 0; i < m->h; i++) acc += vs_bf16f(vs_bf16(m->w2[(size_t)o * m->h + i])) * hidden[i];
			m->y[(size_t)o * m->p + j] = acc;
		}
	}
}
