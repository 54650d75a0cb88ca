// Matrix product with bfloat16 products and float32 accumulation:
// c = a b (+ bias) for a [m][k] and a weight b [k][n]. See gemm.c.
#ifndef VIDSEG_BF16OP_GEMM_H
#define VIDSEG_BF16OP_GEMM_H

#include <stddef.h>
#include <stdint.h>

// Rows of a per task: each task packs its rows once and passes them over
// every column of b.
#define VS_MBLOCK 96

typedef struct {
	int m, k, n;
	const float *a;    // [m][k]
	const float *b;    // [k][n]
	const float *bias; // [n] or NULL
	float *c;          // [m][n]
	// Packed b: [column groups of 16, even count][k/2 rounded up][16][2],
	// zeros past the ends.
	uint16_t *bp;
} vs_gemm;

int vs_gemm_groups(int n);
size_t vs_gemm_bp_bytes(int k, int n);
// Packs column groups [g0, g1) of b.
void vs_gemm_pack_b(const vs_gemm *g, int g0, int g1);
// Scratch each call of vs_gemm_rows_* needs, in bytes (64-byte aligned).
size_t vs_gemm_scratch_bytes(const vs_gemm *g);
// Computes rows [r0, r1) of c, at most VS_MBLOCK of them.
void vs_gemm_rows_fast(const vs_gemm *g, int r0, int r1, void *scratch);
void vs_gemm_rows_portable(const vs_gemm *g, int r0, int r1, void *scratch);

#endif
