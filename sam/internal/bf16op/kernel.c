// Flash attention with bfloat16 products (AVX-512 BF16 VDPBF16PS) and
// float32 accumulation, online softmax in float32.
//
// Why: on the 2-core Zen 4 machines the memory attention's cross-attention
// (4096 queries over 28,736 memory keys, 256 wide) is bound by the multiply
// rate, and ONNX Runtime's fused float32 kernel already runs near the
// float32 FMA peak. VDPBF16PS does two products per lane: measured peak
// 458 against 212 GFLOP/s on the two cores.
//
// Rounding: scale*Q, K, V and the softmax weights P are rounded to bfloat16
// (ties to even); products are exact in float32 and accumulate in float32.
// The portable path rounds the same operands the same way and differs only
// in summation order and exp, so it is the fast path's reference.
#include "kernel.h"
#include "tile.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>



uint16_t vs_bf16(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

int vs_fast(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

int vs_fast_shape(int d, int dv) { return d % 2 == 0 && dv % 16 == 0; }

int vs_k_groups(int nk) { return (nk + 31) / 32 * 2; }
int vs_v_pairs(int nk) { return (nk + 1) / 2; }

size_t vs_qp_bytes(int nq, int d) { return (size_t)nq * (d / 2) * 4; }
size_t vs_kp_bytes(int nk, int d) { return (size_t)vs_k_groups(nk) * (d / 2) * 16 * 4; }
size_t vs_vp_bytes(int nk, int dv) { return (size_t)vs_v_pairs(nk) * dv * 4; }

void vs_pack_q(const vs_attn *a, int r0, int r1) {
	int dp = a->d / 2;
	for (int r = r0; r < r1; r++) {
		const float *q = a->q + (size_t)r * a->ldq;
		uint32_t *o = a->qp + (size_t)r * dp;
		for (int p = 0; p < dp; p++)
			o[p] = vs_bf16(q[2 * p] * a->scale) | (uint32_t)vs_bf16(q[2 * p + 1] * a->scale) << 16;
	}
}

void vs_pack_k(const vs_attn *a, int g0, int g1) {
	int dp = a->d / 2;
	for (int g = g0; g < g1; g++) {
		uint16_t *o = a->kp + (size_t)g * dp * 32;
		for (int t = 0; t < 16; t++) {
			int key = g * 16 + t;
			if (key >= a->nk) {
				for (int p = 0; p < dp; p++) o[(p * 16 + t) * 2] = o[(p * 16 + t) * 2 + 1] = 0;
				continue;
			}
			const float *k = a->k + (size_t)key * a->ldk;
			for (int p = 0; p < dp; p++) {
				o[(p * 16 + t) * 2] = vs_bf16(k[2 * p]);
				o[(p * 16 + t) * 2 + 1] = vs_bf16(k[2 * p + 1]);
			}
		}
	}
}

void vs_pack_v(const vs_attn *a, int p0, int p1) {
	for (int p = p0; p < p1; p++) {
		uint16_t *o = a->vp + (size_t)p * a->dv * 2;
		for (int h = 0; h < 2; h++) {
			int key = 2 * p + h;
			const float *v = a->v + (size_t)key * a->ldv;
			for (int c = 0; c < a->dv; c++) o[c * 2 + h] = key < a->nk ? vs_bf16(v[c]) : 0;
		}
	}
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t vs_scratch_bytes(const vs_attn *a) {
	if (a->qp != NULL && vs_fast_shape(a->d, a->dv))
		return align64(sizeof(float) * VS_QBLOCK * VS_KBLOCK) +     // scores
		       align64(sizeof(uint32_t) * VS_QBLOCK * VS_KBLOCK / 2) + // weights
		       align64(sizeof(float) * VS_QBLOCK * a->dv) +          // output rows
		       align64(sizeof(float) * VS_QBLOCK * 2);               // max, sum
	return align64(sizeof(float) * a->nk) + align64(sizeof(float) * a->dv);
}

// The portable kernel: one query row at a time over all keys.
void vs_attend_portable(const vs_attn *a, int q0, int q1, void *scratch) {
	int dp = a->d / 2;
	float *s = scratch;
	float *o = (float *)((char *)scratch + align64(sizeof(float) * a->nk));
	for (int r = q0; r < q1; r++) {
		const uint32_t *q = a->qp + (size_t)r * dp;
		float m = -INFINITY;
		for (int key = 0; key < a->nk; key++) {
			const uint16_t *k = a->kp + ((size_t)(key / 16) * dp * 16 + key % 16) * 2;
			float acc = 0;
			for (int p = 0; p < dp; p++)
				acc += vs_bf16f(q[p] & 0xffff) * vs_bf16f(k[p * 32]) + vs_bf16f(q[p] >> 16) * vs_bf16f(k[p * 32 + 1]);
			s[key] = acc;
			if (acc > m) m = acc;
		}
		float l = 0;
		memset(o, 0, sizeof(float) * a->dv);
		for (int key = 0; key < a->nk; key++) {
			float e = expf(s[key] - m);
			l += e;
			float pe = vs_bf16f(vs_bf16(e));
			const uint16_t *v = a->vp + (size_t)(key / 2) * a->dv * 2 + (key & 1);
			for (int c = 0; c < a->dv; c++) o[c] += pe * vs_bf16f(v[c * 2]);
		}
		float *out = a->out + (size_t)r * a->ldo;
		for (int c = 0; c < a->dv; c++) out[c] = o[c] / l;
	}
}

// O[rows][16*NV columns] += P[rows] . V[pairs][same columns], four rows at
// a time. Always inlined with a constant NV so the accumulators stay in
// registers.
#define PV_TILE(NV)                                                                                         \
	VS_FAST static void pv_tile##NV(const uint32_t *p, int ldp, int rows, int pairs, const __m512bh *v, int ldv, \
	                             float *o, int ldo) {                                                       \
		for (int r0 = 0; r0 < rows; r0 += 4) {                                                              \
			int rn = rows - r0 < 4 ? rows - r0 : 4;                                                         \
			__m512 acc[4][NV];                                                                              \
			const uint32_t *pr[4];                                                                          \
			for (int r = 0; r < 4; r++) {                                                                   \
				pr[r] = p + (size_t)(r0 + (r < rn ? r : 0)) * ldp;                                          \
				for (int c = 0; c < NV; c++)                                                                \
					acc[r][c] = r < rn ? _mm512_load_ps(o + (size_t)(r0 + r) * ldo + c * 16)                \
					                   : _mm512_setzero_ps();                                                   \
			}                                                                                               \
			for (int i = 0; i < pairs; i++) {                                                               \
				const __m512bh *vi = v + (size_t)i * ldv;                                                   \
				__m512bh vv[NV];                                                                            \
				for (int c = 0; c < NV; c++) vv[c] = vi[c];                                                 \
				for (int r = 0; r < 4; r++) {                                                               \
					__m512bh x = (__m512bh)_mm512_set1_epi32((int)pr[r][i]);                                \
					for (int c = 0; c < NV; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], x, vv[c]);         \
				}                                                                                           \
			}                                                                                               \
			for (int r = 0; r < rn; r++)                                                                    \
				for (int c = 0; c < NV; c++) _mm512_store_ps(o + (size_t)(r0 + r) * ldo + c * 16, acc[r][c]); \
		}                                                                                                   \
	}
PV_TILE(1)
PV_TILE(2)
PV_TILE(3)
PV_TILE(4)

VS_FAST void vs_attend_fast(const vs_attn *a, int q0, int q1, void *scratch) {
	const int dp = a->d / 2, dv = a->dv, rows = q1 - q0;
	char *sp = scratch;
	float *S = (float *)sp;
	sp += align64(sizeof(float) * VS_QBLOCK * VS_KBLOCK);
	uint32_t *P = (uint32_t *)sp;
	sp += align64(sizeof(uint32_t) * VS_QBLOCK * VS_KBLOCK / 2);
	float *O = (float *)sp;
	sp += align64(sizeof(float) * VS_QBLOCK * dv);
	float *m = (float *)sp, *l = m + VS_QBLOCK;

	for (int r = 0; r < rows; r++) {
		m[r] = -INFINITY;
		l[r] = 0;
	}
	memset(O, 0, sizeof(float) * rows * dv);
	const __m512bh *kp = (const __m512bh *)a->kp;
	const __m512bh *vp = (const __m512bh *)a->vp; // one pair of keys = dv/16 vectors
	const uint32_t *qp = a->qp + (size_t)q0 * dp;
	for (int k0 = 0; k0 < a->nk; k0 += VS_KBLOCK) {
		int kn = a->nk - k0 < VS_KBLOCK ? a->nk - k0 : VS_KBLOCK;
		int groups = (kn + 15) / 16;
		// Scores: each 32-key slice of K (16 KB at d = 256) stays in L1
		// while every row tile of the block passes over it.
		for (int g = 0; g < groups; g += 2) {
			const __m512bh *kg = kp + (size_t)(k0 / 16 + g) * dp;
			for (int r0 = 0; r0 < rows; r0 += VS_ROWS) {
				int rn = rows - r0 < VS_ROWS ? rows - r0 : VS_ROWS;
				// S[rows][32] = Q[rows] . K[32 keys]^T
				vs_tile(qp + (size_t)r0 * dp, dp, rn, kg, kg + dp, NULL, 0xffff, 0xffff,
				        S + (size_t)r0 * VS_KBLOCK + g * 16, VS_KBLOCK);
			}
		}
		// Online softmax: rescale what was accumulated when the max rises.
		for (int r = 0; r < rows; r++) {
			float *s = S + (size_t)r * VS_KBLOCK;
			__m512 mx = _mm512_set1_ps(-INFINITY);
			for (int c = 0; c < kn; c += 16) {
				__mmask16 mk = kn - c >= 16 ? 0xffff : (__mmask16)((1u << (kn - c)) - 1);
				mx = _mm512_mask_max_ps(mx, mk, mx, _mm512_load_ps(s + c));
			}
			float mr = _mm512_reduce_max_ps(mx);
			float mn = mr > m[r] ? mr : m[r];
			float alpha = expf(m[r] - mn);
			m[r] = mn;
			__m512 vm = _mm512_set1_ps(mn), sum = _mm512_setzero_ps();
			uint32_t *pr = P + (size_t)r * (VS_KBLOCK / 2);
			for (int c = 0; c < kn; c += 16) {
				__mmask16 mk = kn - c >= 16 ? 0xffff : (__mmask16)((1u << (kn - c)) - 1);
				__m512 e = _mm512_maskz_mov_ps(mk, vs_exp512(_mm512_sub_ps(_mm512_load_ps(s + c), vm)));
				sum = _mm512_add_ps(sum, e);
				_mm256_storeu_si256((__m256i *)(pr + c / 2), (__m256i)_mm512_cvtneps_pbh(e));
			}
			l[r] = l[r] * alpha + _mm512_reduce_add_ps(sum);
			if (alpha != 1.0f) {
				__m512 va = _mm512_set1_ps(alpha);
				float *o = O + (size_t)r * dv;
				for (int c = 0; c < dv; c += 16) _mm512_store_ps(o + c, _mm512_mul_ps(va, _mm512_load_ps(o + c)));
			}
		}
		int pairs = (kn + 1) / 2;
		const __m512bh *vb = vp + (size_t)(k0 / 2) * (dv / 16);
		for (int c = 0; c < dv; c += 64) {
			const __m512bh *vc = vb + c / 16;
			switch ((dv - c) / 16) {
			case 1:
				pv_tile1(P, VS_KBLOCK / 2, rows, pairs, vc, dv / 16, O + c, dv);
				break;
			case 2:
				pv_tile2(P, VS_KBLOCK / 2, rows, pairs, vc, dv / 16, O + c, dv);
				break;
			case 3:
				pv_tile3(P, VS_KBLOCK / 2, rows, pairs, vc, dv / 16, O + c, dv);
				break;
			default:
				pv_tile4(P, VS_KBLOCK / 2, rows, pairs, vc, dv / 16, O + c, dv);
			}
		}
	}
	for (int r = 0; r < rows; r++) {
		float il = 1.0f / l[r];
		float *out = a->out + (size_t)(q0 + r) * a->ldo, *o = O + (size_t)r * dv;
		for (int c = 0; c < dv; c++) out[c] = o[c] * il;
	}
}
