// ONNX Runtime glue of ai.vidseg.Bf16Attention, Bf16MatMul, Bf16Conv1x1 and
// Bf16ConvMLP.
#ifndef VIDSEG_ATTNOP_OP_H
#define VIDSEG_ATTNOP_OP_H

#include <stddef.h>

#include "onnxruntime_c_api.h"

#define VS_DOMAIN "ai.vidseg"
// A session config entry set through the raw pointer and read back through
// onnxruntime_go, to prove the pointer is the options object it wraps.
#define VS_PROBE_KEY "vidseg.custom_op_domain"

typedef struct {
	OrtCustomOp base; // first: ONNX Runtime passes &base back to the callbacks
	const OrtApi *api;
	int fast;
	unsigned long dims; // fresh names given to unknown output dimensions
} vs_op;

void vs_op_init(vs_op *op, const OrtApi *api, int fast);
void vs_matmul_init(vs_op *op, const OrtApi *api, int fast);
void vs_conv_init(vs_op *op, const OrtApi *api, int fast);
void vs_mlp_init(vs_op *op, const OrtApi *api, int fast);
const OrtApi *vs_api(const char *lib, char *err, size_t errlen);
int vs_domain_new(const OrtApi *api, vs_op *ops, int nops, OrtCustomOpDomain **out, char *err, size_t errlen);
void vs_domain_free(const OrtApi *api, OrtCustomOpDomain *d);
int vs_probe(const OrtApi *api, void *options, char *err, size_t errlen);
int vs_domain_add(const OrtApi *api, void *options, OrtCustomOpDomain *d, char *err, size_t errlen);

#endif
