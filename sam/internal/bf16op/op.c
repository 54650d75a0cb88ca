// ONNX Runtime glue of ai.vidseg.Bf16Attention (see bf16op.go).
#include "op.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernel.h"

typedef struct {
	const OrtApi *api;
	float scale; // 0: 1/sqrt(head width), as MultiHeadAttention
	int64_t heads;
	int fast;
} kernel;

static const char *op_name(const OrtCustomOp *op) { return "Bf16Attention"; }
static const char *op_provider(const OrtCustomOp *op) { return NULL; } // CPU
static ONNXTensorElementDataType op_type(const OrtCustomOp *op, size_t i) {
	return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}
static size_t op_inputs(const OrtCustomOp *op) { return 3; }
static size_t op_outputs(const OrtCustomOp *op) { return 1; }
static OrtCustomOpInputOutputCharacteristic op_required(const OrtCustomOp *op, size_t i) {
	return INPUT_OUTPUT_REQUIRED;
}
static OrtMemType op_mem(const OrtCustomOp *op, size_t i) { return OrtMemTypeDefault; }
static int op_one(const OrtCustomOp *op) { return 1; }
static int op_zero(const OrtCustomOp *op) { return 0; }
static int op_start(const OrtCustomOp *op) { return 1; }
static int op_end(const OrtCustomOp *op) { return 1 << 30; }

static OrtStatusPtr op_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	const vs_op *self = (const vs_op *)op;
	kernel *k = calloc(1, sizeof *k);
	if (k == NULL) return api->CreateStatus(ORT_FAIL, "Bf16Attention: out of memory");
	k->api = api;
	k->fast = self->fast;
	// Both attributes are optional, as in MultiHeadAttention.
	OrtStatus *st = api->KernelInfoGetAttribute_float(info, "scale", &k->scale);
	if (st != NULL) {
		api->ReleaseStatus(st);
		k->scale = 0;
	}
	st = api->KernelInfoGetAttribute_int64(info, "num_heads", &k->heads);
	if (st != NULL) {
		api->ReleaseStatus(st);
		k->heads = 1;
	}
	if (k->heads < 1 || k->heads > 4096 || !(k->scale >= 0)) {
		free(k);
		return api->CreateStatus(ORT_INVALID_GRAPH, "Bf16Attention: num_heads must be positive and scale not negative");
	}
	*out = k;
	return NULL;
}

static void op_destroy(void *k) { free(k); }

enum { SCRATCH_SLOTS = 64 };

// mem allocates from the session's CPU allocator (vidseg's shared arena),
// so that a call's buffers reuse memory already faulted in; aligned_alloc
// where the context has none. Fresh pages cost more than the arithmetic on
// some machines: the window attentions' packed operands, 31 MB per call,
// took longer to fault in than to compute.
typedef struct {
	const OrtApi *api;
	OrtMemoryInfo *info;
	OrtAllocator *al;
} mem;

static void mem_open(mem *m, const OrtApi *api, OrtKernelContext *ctx) {
	*m = (mem){.api = api};
	OrtStatus *st = api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &m->info);
	if (st == NULL) st = api->KernelContext_GetAllocator(ctx, m->info, &m->al);
	if (st != NULL) {
		api->ReleaseStatus(st);
		m->al = NULL;
	}
}

// mem_alloc returns 64-byte aligned memory (ONNX Runtime's CPU allocators
// align to 64).
static void *mem_alloc(mem *m, size_t n) {
	n = (n + 63) & ~(size_t)63;
	if (m->al != NULL) return m->al->Alloc(m->al, n);
	return aligned_alloc(64, n);
}

static void mem_free(mem *m, void *p) {
	if (p == NULL) return;
	if (m->al != NULL)
		m->al->Free(m->al, p);
	else
		free(p);
}

static void mem_close(mem *m) {
	if (m->al != NULL) m->api->ReleaseAllocator(m->al);
	if (m->info != NULL) m->api->ReleaseMemoryInfo(m->info);
}

// pool holds the scratch buffers the tasks of one call reuse: a task takes
// a free slot and gives it back, so a call allocates (and faults in) about
// one buffer per thread instead of one per task. One buffer per task made
// the 43 tasks of an encoder layer's products map, fault in and unmap 300 KB
// each (above the mmap threshold sam sets), 12 % more time; and the 2,048
// tasks of a window attention (1,024 windows x 2 heads) 200 KB each, 30x
// ONNX Runtime's own kernel.
typedef struct {
	mem *m;
	size_t bytes;
	void *buf[SCRATCH_SLOTS];
	int busy[SCRATCH_SLOTS];
} pool;

// pool_take returns the index of a free slot holding a buffer, or -1.
static int pool_take(pool *p) {
	for (int i = 0; i < SCRATCH_SLOTS; i++) {
		int free_slot = 0;
		if (!__atomic_compare_exchange_n(&p->busy[i], &free_slot, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) continue;
		if (p->buf[i] == NULL) p->buf[i] = mem_alloc(p->m, p->bytes);
		if (p->buf[i] != NULL) return i;
		__atomic_store_n(&p->busy[i], 0, __ATOMIC_RELEASE);
		return -1;
	}
	return -1;
}

static void pool_give(pool *p, int i) { __atomic_store_n(&p->busy[i], 0, __ATOMIC_RELEASE); }

static void pool_free(pool *p) {
	for (int i = 0; i < SCRATCH_SLOTS; i++) mem_free(p->m, p->buf[i]);
}

// One call: its items (batch entries x heads) and the work split into
// tasks for ORT's pool.
typedef struct {
	vs_attn *items;
	int fast;
	int qchunks, kchunks, vchunks; // packing tasks per item
	int qblocks;                   // attention tasks per item
	int qrows;                     // query rows per attention task
	int failed;                    // set by a task that could not allocate
	// When each item is one attention task (qblocks == 1), the task packs
	// its item's operands into its scratch, after scratch_attend bytes, at
	// offsets 0, qb and qb+kb from there: no block of every item's packed
	// operands (31 MB for a 1,024-window attention, faulted in each call).
	size_t scratch_attend, qb, kb;
	pool scratch;
} call;

enum { PACK_ROWS = 256, PACK_GROUPS = 16, PACK_PAIRS = 512, MAX_RANK = 8 };

static int ceil_div(int a, int b) { return (a + b - 1) / b; }
static int min_int(int a, int b) { return a < b ? a : b; }
// aligned_alloc wants a multiple of the alignment.
static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static void pack_task(void *u, size_t i) {
	call *c = u;
	int per = c->qchunks + c->kchunks + c->vchunks;
	const vs_attn *a = &c->items[i / per];
	int t = (int)(i % per);
	if (t < c->qchunks) {
		vs_pack_q(a, t * PACK_ROWS, min_int(a->nq, (t + 1) * PACK_ROWS));
		return;
	}
	t -= c->qchunks;
	if (t < c->kchunks) {
		vs_pack_k(a, t * PACK_GROUPS, min_int(vs_k_groups(a->nk), (t + 1) * PACK_GROUPS));
		return;
	}
	t -= c->kchunks;
	vs_pack_v(a, t * PACK_PAIRS, min_int(vs_v_pairs(a->nk), (t + 1) * PACK_PAIRS));
}

static void attend_task(void *u, size_t i) {
	call *c = u;
	const vs_attn *a = &c->items[i / c->qblocks];
	int q0 = (int)(i % c->qblocks) * c->qrows, q1 = min_int(a->nq, q0 + c->qrows);
	int slot = pool_take(&c->scratch);
	if (slot < 0) {
		__atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
		return;
	}
	vs_attn own;
	if (a->qp == NULL) { // packed here: see call
		char *base = (char *)c->scratch.buf[slot] + c->scratch_attend;
		own = *a;
		own.qp = (uint32_t *)base;
		own.kp = (uint16_t *)(base + c->qb);
		own.vp = (uint16_t *)(base + c->qb + c->kb);
		vs_pack_q(&own, 0, own.nq);
		vs_pack_k(&own, 0, vs_k_groups(own.nk));
		vs_pack_v(&own, 0, vs_v_pairs(own.nk));
		a = &own;
	}
	if (c->fast)
		vs_attend_fast(a, q0, q1, c->scratch.buf[slot]);
	else
		vs_attend_portable(a, q0, q1, c->scratch.buf[slot]);
	pool_give(&c->scratch, slot);
}

static OrtStatusPtr errorf(const OrtApi *api, OrtErrorCode code, const char *format, long long x, long long y) {
	char msg[256];
	snprintf(msg, sizeof msg, format, x, y);
	return api->CreateStatus(code, msg);
}

// dims reads a 3-D float input's shape.
static OrtStatusPtr dims(const OrtApi *api, const OrtValue *v, int64_t out[3], int index) {
	OrtTensorTypeAndShapeInfo *info;
	OrtStatus *st = api->GetTensorTypeAndShape(v, &info);
	if (st != NULL) return st;
	size_t n = 0;
	st = api->GetDimensionsCount(info, &n);
	if (st == NULL && n != 3) {
		api->ReleaseTensorTypeAndShapeInfo(info);
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: input %lld has %lld dimensions, want 3 [batch, length, width]",
		              index, (long long)n);
	}
	if (st == NULL) st = api->GetDimensions(info, out, 3);
	api->ReleaseTensorTypeAndShapeInfo(info);
	return st;
}

static OrtStatusPtr op_compute(void *kv, OrtKernelContext *ctx) {
	kernel *k = kv;
	const OrtApi *api = k->api;
	const OrtValue *in[3];
	int64_t shape[3][3];
	const float *data[3];
	OrtStatus *st;
	for (int i = 0; i < 3; i++) {
		if ((st = api->KernelContext_GetInput(ctx, i, &in[i])) != NULL) return st;
		if ((st = dims(api, in[i], shape[i], i)) != NULL) return st;
		if ((st = api->GetTensorData(in[i], (const void **)&data[i])) != NULL) return st;
	}
	int64_t b = shape[0][0], nq = shape[0][1], d = shape[0][2], nk = shape[1][1], dv = shape[2][2], h = k->heads;
	if (shape[1][0] != b || shape[2][0] != b)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: batch sizes differ (query %lld, key or value %lld)", b,
		              shape[1][0] != b ? shape[1][0] : shape[2][0]);
	if (shape[1][2] != d)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: query width %lld, key width %lld", d, shape[1][2]);
	if (shape[2][1] != nk)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: %lld keys, %lld values", nk, shape[2][1]);
	if (d % h != 0 || dv % h != 0)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: widths %lld and %lld do not split into num_heads heads",
		              d, dv);
	if ((d / h) % 2 != 0 || nk < 1 || nq > (1 << 28) || nk > (1 << 28) || d > (1 << 16) || dv > (1 << 16))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Attention: unsupported sizes (width %lld, %lld keys)", d, nk);
	int64_t oshape[3] = {b, nq, dv};
	OrtValue *outv;
	if ((st = api->KernelContext_GetOutput(ctx, 0, oshape, 3, &outv)) != NULL) return st;
	float *out;
	if ((st = api->GetTensorMutableData(outv, (void **)&out)) != NULL) return st;
	if (b == 0 || nq == 0 || dv == 0) return NULL;

	// One item per batch entry and head; heads sit side by side in the
	// last dimension.
	int64_t dh = d / h, dvh = dv / h, items = b * h;
	float scale = k->scale > 0 ? k->scale : 1.0f / sqrtf((float)dh);
	mem m;
	mem_open(&m, api, ctx);
	call c = {.fast = k->fast && vs_fast_shape((int)dh, (int)dvh), .scratch = {.m = &m}};
	c.items = mem_alloc(&m, (size_t)items * sizeof(vs_attn));
	if (c.items == NULL) {
		mem_close(&m);
		return api->CreateStatus(ORT_FAIL, "Bf16Attention: out of memory");
	}
	c.qrows = c.fast ? VS_QBLOCK : 16;
	c.qblocks = ceil_div((int)nq, c.qrows);
	// Items whose queries span several tasks share their packed operands,
	// packed first, all in one block; an item of one task packs its own.
	c.qb = round64(vs_qp_bytes((int)nq, (int)dh));
	c.kb = round64(vs_kp_bytes((int)nk, (int)dh));
	size_t vb = round64(vs_vp_bytes((int)nk, (int)dvh)), per = c.qb + c.kb + vb;
	int shared = c.qblocks > 1;
	char *packed = shared ? mem_alloc(&m, (size_t)items * per) : NULL;
	int ok = !shared || packed != NULL;
	for (int64_t i = 0; i < items && ok; i++) {
		int64_t bi = i / h, hi = i % h;
		vs_attn *a = &c.items[i];
		*a = (vs_attn){.nq = (int)nq, .nk = (int)nk, .d = (int)dh, .dv = (int)dvh, .scale = scale,
		               .q = data[0] + bi * nq * d + hi * dh, .k = data[1] + bi * nk * d + hi * dh,
		               .v = data[2] + bi * nk * dv + hi * dvh, .out = out + bi * nq * dv + hi * dvh,
		               .ldq = (int)d, .ldk = (int)d, .ldv = (int)dv, .ldo = (int)dv};
		if (shared) {
			char *base = packed + (size_t)i * per;
			a->qp = (uint32_t *)base;
			a->kp = (uint16_t *)(base + c.qb);
			a->vp = (uint16_t *)(base + c.qb + c.kb);
		}
	}
	if (ok) {
		// vs_scratch_bytes sizes the fast kernel's scratch for a non-NULL
		// qp, the portable one's for NULL, whoever packs the operands.
		vs_attn sized = c.items[0];
		sized.qp = c.fast ? (uint32_t *)&sized : NULL;
		c.scratch_attend = round64(vs_scratch_bytes(&sized));
		c.scratch.bytes = c.scratch_attend + (shared ? 0 : per);
	}
	c.qchunks = ceil_div((int)nq, PACK_ROWS);
	c.kchunks = ceil_div(vs_k_groups((int)nk), PACK_GROUPS);
	c.vchunks = ceil_div(vs_v_pairs((int)nk), PACK_PAIRS);
	if (ok && shared) st = api->KernelContext_ParallelFor(ctx, pack_task, (size_t)items * (c.qchunks + c.kchunks + c.vchunks), 0, &c);
	if (ok && st == NULL) st = api->KernelContext_ParallelFor(ctx, attend_task, (size_t)items * c.qblocks, 0, &c);
	mem_free(&m, packed);
	pool_free(&c.scratch);
	mem_free(&m, c.items);
	mem_close(&m);
	if (st != NULL) return st;
	if (!ok || c.failed) return api->CreateStatus(ORT_FAIL, "Bf16Attention: out of memory or more than 64 threads");
	return NULL;
}

// set_output sets a float output of rank n with dimensions d named by
// names. An unknown dimension without a name would be stored as the value
// -1; a fresh name keeps it unknown.
static OrtStatusPtr set_output(const OrtCustomOp *op, OrtShapeInferContext *ctx, const int64_t *d, const char **names,
                               size_t n) {
	vs_op *self = (vs_op *)op;
	const OrtApi *api = self->api;
	char fresh[MAX_RANK][32];
	for (size_t i = 0; i < n; i++) {
		if (d[i] >= 0 || (names[i] != NULL && names[i][0] != 0)) continue;
		unsigned long k = __atomic_fetch_add(&self->dims, 1, __ATOMIC_RELAXED);
		snprintf(fresh[i], sizeof fresh[i], "vidseg_bf16_%lu", k);
		names[i] = fresh[i];
	}
	OrtTensorTypeAndShapeInfo *out = NULL;
	OrtStatus *st = api->CreateTensorTypeAndShapeInfo(&out);
	if (st == NULL) st = api->SetTensorElementType(out, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
	if (st == NULL) st = api->SetDimensions(out, d, n);
	if (st == NULL) st = api->SetSymbolicDimensions(out, names, n);
	if (st == NULL) st = api->ShapeInferContext_SetOutputTypeShape(ctx, 0, out);
	if (out != NULL) api->ReleaseTensorTypeAndShapeInfo(out);
	return st;
}

// op_infer gives the output's type and shape, [batch, query length, value
// width] with the inputs' symbolic names: without it ONNX Runtime's optimizer
// knows nothing downstream of the node and stops fusing the projections
// after it (MatMul + Add into Gemm, ...): 260 ms more per memory attention
// call.
static OrtStatusPtr op_infer(const OrtCustomOp *op, OrtShapeInferContext *ctx) {
	const OrtApi *api = ((const vs_op *)op)->api;
	OrtTensorTypeAndShapeInfo *in[2] = {NULL, NULL};
	int64_t dims[2][3];
	const char *names[2][3];
	OrtStatus *st = NULL;
	int known = 1;
	for (int i = 0; i < 2 && st == NULL; i++) {
		size_t n = 0;
		st = api->ShapeInferContext_GetInputTypeShape(ctx, i == 0 ? 0 : 2, &in[i]);
		if (st == NULL) st = api->GetDimensionsCount(in[i], &n);
		if (st == NULL && n != 3) known = 0;
		if (st == NULL && known) st = api->GetDimensions(in[i], dims[i], 3);
		if (st == NULL && known) st = api->GetSymbolicDimensions(in[i], names[i], 3);
	}
	if (st == NULL && known) {
		int64_t od[3] = {dims[0][0], dims[0][1], dims[1][2]};
		const char *on[3] = {names[0][0], names[0][1], names[1][2]};
		st = set_output(op, ctx, od, on, 3);
	}
	// The inputs' infos belong to the context (releasing them is a double
	// free in ONNX Runtime 1.24).
	return st;
}

// ai.vidseg.Bf16MatMul: Y = A B (+ bias) for A [..., k], a weight B [k, n]
// and an optional bias [n]: ONNX MatMul with a 2-D right operand, and the
// Add of a bias fused when the rewrite found one.

typedef struct {
	const OrtApi *api;
	int fast;
	int64_t transb, relu; // attributes transB (the weight is [n, k]) and relu (max(0, .) after the bias)
} mm_kernel;

// int_attr reads an optional int attribute (def when absent).
static int64_t int_attr(const OrtApi *api, const OrtKernelInfo *info, const char *name, int64_t def) {
	int64_t v = def;
	OrtStatus *st = api->KernelInfoGetAttribute_int64(info, name, &v);
	if (st != NULL) {
		api->ReleaseStatus(st);
		v = def;
	}
	return v;
}

static const char *mm_name(const OrtCustomOp *op) { return "Bf16MatMul"; }
static size_t mm_inputs(const OrtCustomOp *op) { return 3; }
static OrtCustomOpInputOutputCharacteristic mm_input_required(const OrtCustomOp *op, size_t i) {
	return i == 2 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
}

static OrtStatusPtr mm_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	mm_kernel *k = calloc(1, sizeof *k);
	if (k == NULL) return api->CreateStatus(ORT_FAIL, "Bf16MatMul: out of memory");
	k->api = api;
	k->fast = ((const vs_op *)op)->fast;
	k->transb = int_attr(api, info, "transB", 0) != 0;
	k->relu = int_attr(api, info, "relu", 0) != 0;
	*out = k;
	return NULL;
}

typedef struct {
	vs_gemm g;
	int fast;
	int rows;   // rows per task
	int failed; // set by a task that could not allocate
	pool scratch;
} mm_call;

enum { PACK_B_GROUPS = 4 };

static void mm_pack_task(void *u, size_t i) {
	mm_call *c = u;
	int g0 = (int)i * PACK_B_GROUPS;
	vs_gemm_pack_b(&c->g, g0, min_int(vs_gemm_groups(c->g.n), g0 + PACK_B_GROUPS));
}

static void mm_rows_task(void *u, size_t i) {
	mm_call *c = u;
	int r0 = (int)i * c->rows, r1 = min_int(c->g.m, r0 + c->rows);
	int slot = pool_take(&c->scratch);
	if (slot < 0) {
		__atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
		return;
	}
	if (c->fast)
		vs_gemm_rows_fast(&c->g, r0, r1, c->scratch.buf[slot]);
	else
		vs_gemm_rows_portable(&c->g, r0, r1, c->scratch.buf[slot]);
	pool_give(&c->scratch, slot);
}

// shape reads a float input's dimensions (at most MAX_RANK).
static OrtStatusPtr shape(const OrtApi *api, const OrtValue *v, int64_t out[MAX_RANK], size_t *rank, int index) {
	OrtTensorTypeAndShapeInfo *info;
	OrtStatus *st = api->GetTensorTypeAndShape(v, &info);
	if (st != NULL) return st;
	st = api->GetDimensionsCount(info, rank);
	if (st == NULL && (*rank < 1 || *rank > MAX_RANK)) {
		api->ReleaseTensorTypeAndShapeInfo(info);
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16MatMul: input %lld has %lld dimensions, want 1 to 8", index,
		              (long long)*rank);
	}
	if (st == NULL) st = api->GetDimensions(info, out, *rank);
	api->ReleaseTensorTypeAndShapeInfo(info);
	return st;
}

// read_inputs gets a kernel's first n inputs (NULL: an absent optional
// one) with their dimensions and data.
static OrtStatusPtr read_inputs(const OrtApi *api, OrtKernelContext *ctx, int n, const OrtValue **in,
                                int64_t dims[][MAX_RANK], size_t *rank, const float **data) {
	size_t count = 0;
	OrtStatus *st = api->KernelContext_GetInputCount(ctx, &count);
	if (st != NULL) return st;
	for (int i = 0; i < n && i < (int)count; i++) {
		if ((st = api->KernelContext_GetInput(ctx, i, &in[i])) != NULL) return st;
		if (in[i] == NULL) continue;
		if ((st = shape(api, in[i], dims[i], &rank[i], i)) != NULL) return st;
		if ((st = api->GetTensorData(in[i], (const void **)&data[i])) != NULL) return st;
	}
	return NULL;
}

static OrtStatusPtr mm_compute(void *kv, OrtKernelContext *ctx) {
	mm_kernel *k = kv;
	const OrtApi *api = k->api;
	const OrtValue *in[3] = {NULL, NULL, NULL};
	int64_t dims[3][MAX_RANK];
	size_t rank[3] = {0, 0, 0};
	const float *data[3] = {NULL, NULL, NULL};
	OrtStatus *st = read_inputs(api, ctx, 3, in, dims, rank, data);
	if (st != NULL) return st;
	if (in[0] == NULL || in[1] == NULL) return api->CreateStatus(ORT_INVALID_ARGUMENT, "Bf16MatMul: missing input");
	int64_t kd = dims[0][rank[0] - 1], m = 1;
	for (size_t i = 0; i + 1 < rank[0]; i++) m *= dims[0][i];
	if (rank[1] != 2)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16MatMul: weight has %lld dimensions, want %lld", (long long)rank[1], 2);
	int64_t wk = dims[1][k->transb ? 1 : 0], n = dims[1][k->transb ? 0 : 1];
	if (wk != kd)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16MatMul: weight has %lld rows, input width %lld", wk, kd);
	if (in[2] != NULL && (rank[2] != 1 || dims[2][0] != n))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16MatMul: bias must be [%lld], has %lld values", n,
		              (long long)(rank[2] == 1 ? dims[2][0] : -1));
	if (m > (1 << 30) || kd > (1 << 20) || n > (1 << 20))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16MatMul: unsupported sizes (%lld rows, width %lld)", m, kd);
	int64_t oshape[MAX_RANK];
	memcpy(oshape, dims[0], sizeof(int64_t) * rank[0]);
	oshape[rank[0] - 1] = n;
	OrtValue *outv;
	if ((st = api->KernelContext_GetOutput(ctx, 0, oshape, rank[0], &outv)) != NULL) return st;
	float *out;
	if ((st = api->GetTensorMutableData(outv, (void **)&out)) != NULL) return st;
	if (m == 0 || n == 0) return NULL;
	if (kd == 0) { // an empty sum: the bias alone
		for (int64_t r = 0; r < m; r++)
			for (int64_t j = 0; j < n; j++) {
				float v = data[2] != NULL ? data[2][j] : 0;
				out[r * n + j] = k->relu && !(v > 0) ? 0 : v;
			}
		return NULL;
	}

	mm_call c = {.g = {.m = (int)m, .k = (int)kd, .n = (int)n, .transb = (int)k->transb, .relu = (int)k->relu,
	                   .a = data[0], .b = data[1], .bias = data[2], .c = out},
	             .fast = k->fast,
	             .rows = k->fast ? VS_MBLOCK : 16};
	mem mm;
	mem_open(&mm, api, ctx);
	c.scratch.m = &mm;
	c.scratch.bytes = vs_gemm_scratch_bytes(&c.g);
	c.g.bp = mem_alloc(&mm, vs_gemm_bp_bytes((int)kd, (int)n));
	if (c.g.bp == NULL) {
		mem_close(&mm);
		return api->CreateStatus(ORT_FAIL, "Bf16MatMul: out of memory");
	}
	st = api->KernelContext_ParallelFor(ctx, mm_pack_task, (size_t)ceil_div(vs_gemm_groups((int)n), PACK_B_GROUPS), 0, &c);
	if (st == NULL) st = api->KernelContext_ParallelFor(ctx, mm_rows_task, (size_t)ceil_div((int)m, c.rows), 0, &c);
	mem_free(&mm, c.g.bp);
	pool_free(&c.scratch);
	mem_close(&mm);
	if (st != NULL) return st;
	if (c.failed) return api->CreateStatus(ORT_FAIL, "Bf16MatMul: out of memory or more than 64 threads");
	return NULL;
}

// infer_transb reads a Bf16MatMul node's transB attribute at shape
// inference (0 when absent).
static int infer_transb(const OrtApi *api, OrtShapeInferContext *ctx) {
	const OrtOpAttr *attr = NULL;
	int64_t v = 0;
	size_t len = 0;
	OrtStatus *st = api->ShapeInferContext_GetAttribute(ctx, "transB", &attr);
	if (st == NULL && attr != NULL) st = api->ReadOpAttr(attr, ORT_OP_ATTR_INT, &v, sizeof v, &len);
	if (st != NULL) {
		api->ReleaseStatus(st);
		return 0;
	}
	return attr != NULL && v != 0;
}

// mm_infer gives the output's type and shape, A's dimensions with the last
// one B's, so that ONNX Runtime keeps fusing what follows (see op_infer).
static OrtStatusPtr mm_infer(const OrtCustomOp *op, OrtShapeInferContext *ctx) {
	const OrtApi *api = ((const vs_op *)op)->api;
	OrtTensorTypeAndShapeInfo *a = NULL, *b = NULL;
	int64_t ad[MAX_RANK], bd[2];
	const char *an[MAX_RANK], *bn[2];
	size_t ar = 0, br = 0;
	OrtStatus *st = api->ShapeInferContext_GetInputTypeShape(ctx, 0, &a);
	if (st == NULL) st = api->ShapeInferContext_GetInputTypeShape(ctx, 1, &b);
	if (st == NULL) st = api->GetDimensionsCount(a, &ar);
	if (st == NULL) st = api->GetDimensionsCount(b, &br);
	if (st != NULL || ar < 1 || ar > MAX_RANK || br != 2) return st; // unknown: leave the output unset
	if ((st = api->GetDimensions(a, ad, ar)) == NULL && (st = api->GetSymbolicDimensions(a, an, ar)) == NULL &&
	    (st = api->GetDimensions(b, bd, 2)) == NULL)
		st = api->GetSymbolicDimensions(b, bn, 2);
	if (st != NULL) return st;
	int n = infer_transb(api, ctx) ? 0 : 1; // the weight's output dimension
	ad[ar - 1] = bd[n];
	an[ar - 1] = bn[n];
	return set_output(op, ctx, ad, an, ar);
}

void vs_op_init(vs_op *op, const OrtApi *api, int fast) {
	memset(op, 0, sizeof *op);
	OrtCustomOp *o = &op->base;
	o->version = ORT_API_VERSION;
	o->GetName = op_name;
	o->GetExecutionProviderType = op_provider;
	o->GetInputType = op_type;
	o->GetInputTypeCount = op_inputs;
	o->GetOutputType = op_type;
	o->GetOutputTypeCount = op_outputs;
	o->KernelDestroy = op_destroy;
	o->GetInputCharacteristic = op_required;
	o->GetOutputCharacteristic = op_required;
	o->GetInputMemoryType = op_mem;
	o->GetVariadicInputMinArity = op_one;
	o->GetVariadicInputHomogeneity = op_zero;
	o->GetVariadicOutputMinArity = op_one;
	o->GetVariadicOutputHomogeneity = op_zero;
	o->CreateKernelV2 = op_create;
	o->KernelComputeV2 = op_compute;
	o->InferOutputShapeFn = op_infer;
	o->GetStartVersion = op_start;
	o->GetEndVersion = op_end;
	op->api = api;
	op->fast = fast;
}

void vs_matmul_init(vs_op *op, const OrtApi *api, int fast) {
	vs_op_init(op, api, fast);
	OrtCustomOp *o = &op->base;
	o->GetName = mm_name;
	o->GetInputTypeCount = mm_inputs;
	o->GetInputCharacteristic = mm_input_required;
	o->CreateKernelV2 = mm_create;
	o->KernelComputeV2 = mm_compute;
	o->InferOutputShapeFn = mm_infer;
}

// pointwise_weight says whether w (rank r) is [rows, cols, 1, 1] or [rows, cols].
static int pointwise_weight(const int64_t *w, size_t r, int64_t rows, int64_t cols) {
	return (r == 2 || (r == 4 && w[2] == 1 && w[3] == 1)) && w[0] == rows && w[1] == cols;
}

// residual_stride checks an optional residual (dims, rank) against the
// output's shape out (rank r): per-image stride of the residual, 0 when it
// is one image for the whole batch (the memory encoder adds one frame's
// features to every object's mask), -1 when it fits neither.
static int64_t residual_stride(const int64_t *dims, size_t rank, const int64_t *out, size_t r) {
	if (rank != r || memcmp(dims + 1, out + 1, sizeof(int64_t) * (r - 1)) != 0) return -1;
	if (dims[0] == out[0]) {
		int64_t per = 1;
		for (size_t i = 1; i < r; i++) per *= out[i];
		return per;
	}
	return dims[0] == 1 ? 0 : -1;
}

// ai.vidseg.Bf16Conv1x1: a pointwise convolution (kernel 1x1, stride 1, no
// padding, one group) of x [n, cin, spatial...] with a weight [cout, cin, 1,
// 1] (or [cout, cin]), an optional bias [cout] and an optional residual
// shaped as the output, added (ONNX Runtime's FusedConv "Sum", which it
// cannot fuse into a custom operator).

static const char *cv_name(const OrtCustomOp *op) { return "Bf16Conv1x1"; }
static size_t cv_inputs(const OrtCustomOp *op) { return 4; }
static OrtCustomOpInputOutputCharacteristic cv_input_required(const OrtCustomOp *op, size_t i) {
	return i >= 2 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
}

typedef struct {
	vs_conv c; // one image; tasks set x, res and y to theirs
	int n, blocks;
	size_t in_stride, out_stride, res_stride;
	int fast, failed;
	pool scratch;
} cv_call;

static void cv_task(void *u, size_t i) {
	cv_call *k = u;
	vs_conv c = k->c;
	int img = (int)i / k->blocks, j0 = (int)(i % k->blocks) * VS_CONV_COLS, j1 = min_int(c.p, j0 + VS_CONV_COLS);
	c.x += img * k->in_stride;
	c.y += img * k->out_stride;
	if (c.res != NULL) c.res += img * k->res_stride;
	if (!k->fast) {
		vs_conv_cols_portable(&c, j0, j1);
		return;
	}
	int slot = pool_take(&k->scratch);
	if (slot < 0) {
		__atomic_store_n(&k->failed, 1, __ATOMIC_RELAXED);
		return;
	}
	vs_conv_cols_fast(&c, j0, j1, k->scratch.buf[slot]);
	pool_give(&k->scratch, slot);
}

static OrtStatusPtr cv_compute(void *kv, OrtKernelContext *ctx) {
	mm_kernel *k = kv;
	const OrtApi *api = k->api;
	const OrtValue *in[4] = {NULL, NULL, NULL, NULL};
	int64_t dims[4][MAX_RANK];
	size_t rank[4] = {0, 0, 0, 0};
	const float *data[4] = {NULL, NULL, NULL, NULL};
	OrtStatus *st = read_inputs(api, ctx, 4, in, dims, rank, data);
	if (st != NULL) return st;
	if (in[0] == NULL || in[1] == NULL) return api->CreateStatus(ORT_INVALID_ARGUMENT, "Bf16Conv1x1: missing input");
	if (rank[0] < 3)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Conv1x1: input has %lld dimensions, want [n, channels, spatial...]",
		              (long long)rank[0], 0);
	int64_t n = dims[0][0], cin = dims[0][1], p = 1;
	for (size_t i = 2; i < rank[0]; i++) p *= dims[0][i];
	int64_t cout = dims[1][0];
	if (!pointwise_weight(dims[1], rank[1], cout, cin))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Conv1x1: weight must be [out channels, %lld, 1, 1]", (long long)cin, 0);
	if (in[2] != NULL && (rank[2] != 1 || dims[2][0] != cout))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Conv1x1: bias must be [%lld]", (long long)cout, 0);
	int64_t oshape[MAX_RANK];
	memcpy(oshape, dims[0], sizeof(int64_t) * rank[0]);
	oshape[1] = cout;
	int64_t res_stride = in[3] != NULL ? residual_stride(dims[3], rank[3], oshape, rank[0]) : 0;
	if (res_stride < 0)
		return api->CreateStatus(ORT_INVALID_ARGUMENT,
		                         "Bf16Conv1x1: residual must have the output's shape (or its batch of one)");
	if (n > (1 << 20) || cin > (1 << 20) || cout > (1 << 20) || p > (1 << 30) || n * cout * p > ((int64_t)1 << 40))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16Conv1x1: unsupported sizes (%lld channels, %lld pixels)",
		              (long long)cin, (long long)p);
	OrtValue *outv;
	if ((st = api->KernelContext_GetOutput(ctx, 0, oshape, rank[0], &outv)) != NULL) return st;
	float *out;
	if ((st = api->GetTensorMutableData(outv, (void **)&out)) != NULL) return st;
	if (n == 0 || cout == 0 || p == 0) return NULL;

	cv_call c = {.c = {.cout = (int)cout, .cin = (int)cin, .p = (int)p, .w = data[1], .x = data[0], .bias = data[2],
	                   .res = data[3], .y = out},
	             .n = (int)n,
	             .blocks = ceil_div((int)p, VS_CONV_COLS),
	             .in_stride = (size_t)cin * p,
	             .out_stride = (size_t)cout * p,
	             .res_stride = (size_t)res_stride,
	             .fast = k->fast};
	mem mm;
	mem_open(&mm, api, ctx);
	c.scratch.m = &mm;
	c.scratch.bytes = vs_conv_scratch_bytes((int)cin);
	uint32_t *wp = NULL;
	if (k->fast && cin > 0) {
		if ((wp = mem_alloc(&mm, vs_conv_wp_bytes((int)cout, (int)cin))) == NULL) {
			mem_close(&mm);
			return api->CreateStatus(ORT_FAIL, "Bf16Conv1x1: out of memory");
		}
		vs_conv_pack_w(c.c.w, (int)cout, (int)cin, wp);
		c.c.wp = wp;
	}
	if (cin == 0) c.fast = 0; // the bias and residual alone
	st = api->KernelContext_ParallelFor(ctx, cv_task, (size_t)n * c.blocks, 0, &c);
	mem_free(&mm, wp);
	pool_free(&c.scratch);
	mem_close(&mm);
	if (st != NULL) return st;
	if (c.failed) return api->CreateStatus(ORT_FAIL, "Bf16Conv1x1: out of memory or more than 64 threads");
	return NULL;
}

// cv_infer gives the output's type and shape: x's, with the weight's output
// channels (see op_infer).
static OrtStatusPtr cv_infer(const OrtCustomOp *op, OrtShapeInferContext *ctx) {
	const OrtApi *api = ((const vs_op *)op)->api;
	OrtTensorTypeAndShapeInfo *x = NULL, *w = NULL;
	int64_t xd[MAX_RANK], wd[4];
	const char *xn[MAX_RANK], *wn[4];
	size_t xr = 0, wr = 0;
	OrtStatus *st = api->ShapeInferContext_GetInputTypeShape(ctx, 0, &x);
	if (st == NULL) st = api->ShapeInferContext_GetInputTypeShape(ctx, 1, &w);
	if (st == NULL) st = api->GetDimensionsCount(x, &xr);
	if (st == NULL) st = api->GetDimensionsCount(w, &wr);
	if (st != NULL || xr < 3 || xr > MAX_RANK || (wr != 2 && wr != 4)) return st; // unknown: leave the output unset
	if ((st = api->GetDimensions(x, xd, xr)) == NULL && (st = api->GetSymbolicDimensions(x, xn, xr)) == NULL &&
	    (st = api->GetDimensions(w, wd, wr)) == NULL)
		st = api->GetSymbolicDimensions(w, wn, wr);
	if (st != NULL) return st;
	xd[1] = wd[0];
	xn[1] = wn[0];
	return set_output(op, ctx, xd, xn, xr);
}

void vs_conv_init(vs_op *op, const OrtApi *api, int fast) {
	vs_matmul_init(op, api, fast);
	OrtCustomOp *o = &op->base;
	o->GetName = cv_name;
	o->GetInputTypeCount = cv_inputs;
	o->GetInputCharacteristic = cv_input_required;
	o->KernelComputeV2 = cv_compute;
	o->InferOutputShapeFn = cv_infer;
}

// ai.vidseg.Bf16ConvMLP: RepViT's channel mixer in one node, y = W2
// gelu(W1 x + b1) + b2 (+ res), W1 [h, c, 1, 1] and W2 [c, h, 1, 1] (or 2-D)
// pointwise convolutions of x [n, c, spatial...], gelu the exact one, b1,
// b2 and res (shaped as x) optional. Its hidden layer stays in each task's
// scratch: on ONNX Runtime's kernels it went to memory three times
// (convolution, Gelu, convolution), and at 256 x 256 pixels memory is what
// those layers wait on.

static const char *mlp_name(const OrtCustomOp *op) { return "Bf16ConvMLP"; }
static size_t mlp_inputs(const OrtCustomOp *op) { return 6; }
static OrtCustomOpInputOutputCharacteristic mlp_input_required(const OrtCustomOp *op, size_t i) {
	return i == 0 || i == 1 || i == 3 ? INPUT_OUTPUT_REQUIRED : INPUT_OUTPUT_OPTIONAL;
}

typedef struct {
	vs_mlp m; // one image; tasks set x, res and y to theirs
	int blocks;
	size_t stride, res_stride;
	int fast, failed;
	pool scratch;
} mlp_call;

static void mlp_task(void *u, size_t i) {
	mlp_call *k = u;
	vs_mlp m = k->m;
	int img = (int)i / k->blocks, j0 = (int)(i % k->blocks) * VS_CONV_COLS, j1 = min_int(m.p, j0 + VS_CONV_COLS);
	m.x += img * k->stride;
	m.y += img * k->stride;
	if (m.res != NULL) m.res += img * k->res_stride;
	int slot = pool_take(&k->scratch);
	if (slot < 0) {
		__atomic_store_n(&k->failed, 1, __ATOMIC_RELAXED);
		return;
	}
	if (k->fast)
		vs_mlp_cols_fast(&m, j0, j1, k->scratch.buf[slot]);
	else
		vs_mlp_cols_portable(&m, j0, j1, k->scratch.buf[slot]);
	pool_give(&k->scratch, slot);
}

static OrtStatusPtr mlp_compute(void *kv, OrtKernelContext *ctx) {
	mm_kernel *k = kv;
	const OrtApi *api = k->api;
	const OrtValue *in[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	int64_t dims[6][MAX_RANK];
	size_t rank[6] = {0, 0, 0, 0, 0, 0};
	const float *data[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	OrtStatus *st = read_inputs(api, ctx, 6, in, dims, rank, data);
	if (st != NULL) return st;
	if (in[0] == NULL || in[1] == NULL || in[3] == NULL)
		return api->CreateStatus(ORT_INVALID_ARGUMENT, "Bf16ConvMLP: missing input");
	if (rank[0] < 3)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16ConvMLP: input has %lld dimensions, want [n, channels, spatial...]",
		              (long long)rank[0], 0);
	int64_t n = dims[0][0], c = dims[0][1], h = dims[1][0], p = 1;
	for (size_t i = 2; i < rank[0]; i++) p *= dims[0][i];
	if (!pointwise_weight(dims[1], rank[1], h, c) || !pointwise_weight(dims[3], rank[3], c, h))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16ConvMLP: weights must be [hidden, %lld, 1, 1] and [%lld, hidden, 1, 1]",
		              (long long)c, (long long)c);
	if ((in[2] != NULL && (rank[2] != 1 || dims[2][0] != h)) || (in[4] != NULL && (rank[4] != 1 || dims[4][0] != c)))
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16ConvMLP: biases must be [%lld] and [%lld]", (long long)h, (long long)c);
	int64_t res_stride = in[5] != NULL ? residual_stride(dims[5], rank[5], dims[0], rank[0]) : 0;
	if (res_stride < 0)
		return api->CreateStatus(ORT_INVALID_ARGUMENT,
		                         "Bf16ConvMLP: residual must have the input's shape (or its batch of one)");
	if (n > (1 << 20) || c > (1 << 16) || h > (1 << 16) || p > (1 << 30) || n * c * p > ((int64_t)1 << 40) || c == 0 || h == 0)
		return errorf(api, ORT_INVALID_ARGUMENT, "Bf16ConvMLP: unsupported sizes (%lld channels, %lld hidden)", (long long)c,
		              (long long)h);
	OrtValue *outv;
	if ((st = api->KernelContext_GetOutput(ctx, 0, dims[0], rank[0], &outv)) != NULL) return st;
	float *out;
	if ((st = api->GetTensorMutableData(outv, (void **)&out)) != NULL) return st;
	if (n == 0 || p == 0) return NULL;

	mlp_call call = {.m = {.c = (int)c, .h = (int)h, .p = (int)p, .x = data[0], .w1 = data[1], .b1 = data[2],
	                       .w2 = data[3], .b2 = data[4], .res = data[5], .y = out},
	                 .blocks = ceil_div((int)p, VS_CONV_COLS),
	                 .stride = (size_t)c * p,
	                 .res_stride = (size_t)res_stride,
	                 .fast = k->fast};
	mem mm;
	mem_open(&mm, api, ctx);
	call.scratch.m = &mm;
	call.scratch.bytes = k->fast ? vs_mlp_scratch_bytes((int)c, (int)h) : sizeof(float) * (size_t)h;
	uint32_t *w1p = NULL, *w2p = NULL;
	if (k->fast) {
		w1p = mem_alloc(&mm, vs_conv_wp_bytes((int)h, (int)c));
		w2p = mem_alloc(&mm, vs_conv_wp_bytes((int)c, (int)h));
		if (w1p == NULL || w2p == NULL) {
			mem_free(&mm, w1p);
			mem_free(&mm, w2p);
			mem_close(&mm);
			return api->CreateStatus(ORT_FAIL, "Bf16ConvMLP: out of memory");
		}
		vs_conv_pack_w(call.m.w1, (int)h, (int)c, w1p);
		vs_conv_pack_w(call.m.w2, (int)c, (int)h, w2p);
		call.m.w1p = w1p;
		call.m.w2p = w2p;
	}
	st = api->KernelContext_ParallelFor(ctx, mlp_task, (size_t)n * call.blocks, 0, &call);
	mem_free(&mm, w1p);
	mem_free(&mm, w2p);
	pool_free(&call.scratch);
	mem_close(&mm);
	if (st != NULL) return st;
	if (call.failed) return api->CreateStatus(ORT_FAIL, "Bf16ConvMLP: out of memory or more than 64 threads");
	return NULL;
}

// mlp_infer: the output has x's type and shape.
static OrtStatusPtr mlp_infer(const OrtCustomOp *op, OrtShapeInferContext *ctx) {
	const OrtApi *api = ((const vs_op *)op)->api;
	OrtTensorTypeAndShapeInfo *x = NULL;
	int64_t xd[MAX_RANK];
	const char *xn[MAX_RANK];
	size_t xr = 0;
	OrtStatus *st = api->ShapeInferContext_GetInputTypeShape(ctx, 0, &x);
	if (st == NULL) st = api->GetDimensionsCount(x, &xr);
	if (st != NULL || xr < 1 || xr > MAX_RANK) return st;
	if ((st = api->GetDimensions(x, xd, xr)) == NULL) st = api->GetSymbolicDimensions(x, xn, xr);
	if (st != NULL) return st;
	return set_output(op, ctx, xd, xn, xr);
}

void vs_mlp_init(vs_op *op, const OrtApi *api, int fast) {
	vs_matmul_init(op, api, fast);
	OrtCustomOp *o = &op->base;
	o->GetName = mlp_name;
	o->GetInputTypeCount = mlp_inputs;
	o->GetInputCharacteristic = mlp_input_required;
	o->KernelComputeV2 = mlp_compute;
	o->InferOutputShapeFn = mlp_infer;
}

const OrtApi *vs_api(const char *lib, char *err, size_t errlen) {
	// The library is already loaded by onnxruntime_go: RTLD_NOLOAD finds it
	// without loading a second copy.
	void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) {
		snprintf(err, errlen, "%s is not loaded: %s", lib, dlerror());
		return NULL;
	}
	const OrtApiBase *(*base)(void) = (const OrtApiBase *(*)(void))dlsym(h, "OrtGetApiBase");
	dlclose(h); // drops only the reference taken above
	if (base == NULL) {
		snprintf(err, errlen, "%s has no OrtGetApiBase", lib);
		return NULL;
	}
	const OrtApi *api = base()->GetApi(ORT_API_VERSION);
	if (api == NULL) snprintf(err, errlen, "%s does not offer ONNX Runtime C API %d", lib, ORT_API_VERSION);
	return api;
}

// take copies st's message into err and releases st.
static int take(const OrtApi *api, OrtStatus *st, char *err, size_t errlen) {
	if (st == NULL) return 0;
	snprintf(err, errlen, "%s", api->GetErrorMessage(st));
	api->ReleaseStatus(st);
	return -1;
}

int vs_domain_new(const OrtApi *api, vs_op *ops, int nops, OrtCustomOpDomain **out, char *err, size_t errlen) {
	if (take(api, api->CreateCustomOpDomain(VS_DOMAIN, out), err, errlen)) return -1;
	for (int i = 0; i < nops; i++) {
		if (take(api, api->CustomOpDomain_Add(*out, &ops[i].base), err, errlen)) {
			api->ReleaseCustomOpDomain(*out);
			*out = NULL;
			return -1;
		}
	}
	return 0;
}

void vs_domain_free(const OrtApi *api, OrtCustomOpDomain *d) { api->ReleaseCustomOpDomain(d); }

int vs_probe(const OrtApi *api, void *options, char *err, size_t errlen) {
	return take(api, api->AddSessionConfigEntry(options, VS_PROBE_KEY, VS_DOMAIN), err, errlen);
}

int vs_domain_add(const OrtApi *api, void *options, OrtCustomOpDomain *d, char *err, size_t errlen) {
	return take(api, api->AddCustomOpDomain(options, d), err, errlen);
}
