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
	int transb, relu;  // b is stored [n][k]; max(0, .) on c
	const float *a;    // [m][k]
	const float *b;    // [k][n], or [n][k] with transb
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

// Pointwise (1x1) convolution of one NCHW image with bfloat16 products:
// y[o][j] = w[o] . x[.][j] (+ bias[o]) (+ res[o][j]) for every output
// channel o and pixel j. Tasks take blocks of pixels: each packs its block
// of x into its scratch (an L2-sized panel) and passes every row of the
// packed weight over it.
#define VS_CONV_COLS 128

typedef struct {
	int cout, cin, p;   // output channels, input channels, pixels
	const float *w;     // [cout][cin]
	const float *x;     // [cin][p]
	const float *bias;  // [cout] or NULL
	const float *res;   // [cout][p] or NULL
	float *y;           // [cout][p]
	const uint32_t *wp; // w as bfloat16 pairs, [cout][cin/2 rounded up] (fast kernel)
} vs_conv;

size_t vs_conv_wp_bytes(int cout, int cin);
// Packs w into wp (the fast kernel's weight, once per call).
void vs_conv_pack_w(const float *w, int cout, int cin, uint32_t *wp);
size_t vs_conv_scratch_bytes(int cin);
// Computes pixels [j0, j1) of y, at most VS_CONV_COLS of them.
void vs_conv_cols_fast(const vs_conv *c, int j0, int j1, void *scratch);
void vs_conv_cols_portable(const vs_conv *c, int j0, int j1);

// A pointwise MLP of one NCHW image, RepViT's channel mixer: y[.][j] =
// W2 gelu(W1 x[.][j] + b1) + b2 (+ res[.][j]) for each pixel j, gelu the
// exact (erf) one, products in bfloat16. A task packs its block of pixels,
// computes the hidden layer into its scratch already packed as bfloat16
// pairs, and the output from there: the hidden layer (twice the channels)
// never goes to memory.
typedef struct {
	int c, h, p;           // input and output channels, hidden channels, pixels
	const float *x;        // [c][p]
	const float *w1, *b1;  // [h][c], [h] or NULL
	const float *w2, *b2;  // [c][h], [c] or NULL
	const float *res;      // [c][p] or NULL
	float *y;              // [c][p]
	const uint32_t *w1p;   // packed as vs_conv_pack_w does (fast kernel)
	const uint32_t *w2p;
} vs_mlp;

size_t vs_mlp_scratch_bytes(int c, int h);
// Computes pixels [j0, j1) of y, at most VS_CONV_COLS of them; the portable
// kernel needs h floats of scratch.
void vs_mlp_cols_fast(const vs_mlp *m, int j0, int j1, void *scratch);
void vs_mlp_cols_portable(const vs_mlp *m, int j0, int j1, float *hidden);

#endif
