#include "onnxruntime_c_api.h"

typedef struct {
	const OrtApi *api;
	OrtEnv *env;
	OrtMemoryInfo *info;
} va_arena;

int va_open(const OrtApi *api, va_arena *a, char *err, size_t errlen);
int va_close(va_arena *a, char *err, size_t errlen);
