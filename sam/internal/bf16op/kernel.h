// Single-head attention with bfloat16 products and float32 accumulation:
// out = softmax(scale * Q K^T) V for one batch item. See kernel.c.
#ifndef VIDSEG_ATTNOP_KERNEL_H
#define VIDSEG_ATTNOP_KERNEL_H

#include <stddef.h>
#include <stdint.h>

// Query rows per block: one task of the fast kernel. Each block streams all
// of K once, so larger blocks read K less often (96 and 192 were fastest on
// the 2-core Zen 4 machine; 48 was 15 % slower).
#define VS_QBLOCK 96
// Keys per online-softmax step.
#define VS_KBLOCK 256

typedef struct {
	int nq, nk, d, dv;
	float scale;
	// Rows of q, k, v and out are ldq, ldk, ldv, ldo floats apart (heads
	// side by side in one tensor).
	const float *q, *k, *v; // [nq][d], [nk][d], [nk][dv]
	float *out;             // [nq][dv]
	int ldq, ldk, ldv, ldo;
	// Packed bfloat16 operands of the fast kernel (NULL on the portable path).
	uint32_t *qp; // [nq][d/2] pairs of scale*q
	uint16_t *kp; // [groups of 16 keys][d/2][16][2], groups padded to even
	uint16_t *vp; // [key pairs][dv][2], padded with zeros
} vs_attn;

// vs_fast reports whether this CPU runs the AVX-512 BF16 kernel.
int vs_fast(void);
// Whether the fast kernel takes these sizes (else the portable one runs).
int vs_fast_shape(int d, int dv);

size_t vs_qp_bytes(int nq, int d);
size_t vs_kp_bytes(int nk, int d);
size_t vs_vp_bytes(int nk, int dv);
// Packs rows [r0, r1) of Q, key groups [g0, g1) of K, key pairs [p0, p1) of V.
void vs_pack_q(const vs_attn *a, int r0, int r1);
void vs_pack_k(const vs_attn *a, int g0, int g1);
void vs_pack_v(const vs_attn *a, int p0, int p1);
int vs_k_groups(int nk);
int vs_v_pairs(int nk);

// Scratch each call of vs_attend_* needs, in bytes (64-byte aligned).
size_t vs_scratch_bytes(const vs_attn *a);
// Computes output rows [q0, q1) (at most VS_QBLOCK rows for the fast kernel).
void vs_attend_fast(const vs_attn *a, int q0, int q1, void *scratch);
void vs_attend_portable(const vs_attn *a, int q0, int q1, void *scratch);

// Rounds to the nearest bfloat16 (ties to even), as VCVTNEPS2BF16 does.
uint16_t vs_bf16(float f);

// The float a bfloat16 stands for.
static inline float vs_bf16f(uint16_t h) {
	uint32_t u = (uint32_t)h << 16;
	float f;
	__builtin_memcpy(&f, &u, 4);
	return f;
}

#endif
