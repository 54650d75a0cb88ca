#include <stdio.h>
#include "iobind.h"

// take copies st's message into err and releases st.
static int take(const OrtApi *api, OrtStatus *st, char *err, size_t errlen) {
	if (st == NULL) return 0;
	snprintf(err, errlen, "%s", api->GetErrorMessage(st));
	api->ReleaseStatus(st);
	return -1;
}

int vb_memory_info(const OrtApi *api, int cuda, int device, OrtMemoryInfo **out, char *err, size_t errlen) {
	if (cuda) {
		return take(api, api->CreateMemoryInfo("Cuda", OrtDeviceAllocator, device, OrtMemTypeDefault, out), err, errlen);
	}
	return take(api, api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, out), err, errlen);
}

int vb_binding(const OrtApi *api, OrtSession *sess, OrtIoBinding **out, char *err, size_t errlen) {
	return take(api, api->CreateIoBinding(sess, out), err, errlen);
}

int vb_bind_input(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtValue *v, char *err, size_t errlen) {
	return take(api, api->BindInput(b, name, v), err, errlen);
}

int vb_bind_output(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtValue *v, char *err, size_t errlen) {
	return take(api, api->BindOutput(b, name, v), err, errlen);
}

int vb_bind_output_to(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtMemoryInfo *info, char *err, size_t errlen) {
	return take(api, api->BindOutputToDevice(b, name, info), err, errlen);
}

int vb_run(const OrtApi *api, OrtSession *sess, const OrtRunOptions *opts, OrtIoBinding *b, char *err, size_t errlen) {
	return take(api, api->RunWithBinding(sess, opts, b), err, errlen);
}

int vb_outputs(const OrtApi *api, OrtIoBinding *b, OrtValue **out, size_t n, char *err, size_t errlen) {
	OrtAllocator *alloc = NULL;
	if (take(api, api->GetAllocatorWithDefaultOptions(&alloc), err, errlen)) return -1;
	OrtValue **vals = NULL;
	size_t count = 0;
	if (take(api, api->GetBoundOutputValues(b, alloc, &vals, &count), err, errlen)) return -1;
	int rc = 0;
	if (count != n) {
		snprintf(err, errlen, "%zu outputs bound, want %zu", count, n);
		rc = -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (rc == 0) {
			out[i] = vals[i];
		} else {
			api->ReleaseValue(vals[i]);
		}
	}
	if (vals != NULL) alloc->Free(alloc, vals);
	return rc;
}

int vb_data(const OrtApi *api, OrtValue *v, void **data, char *err, size_t errlen) {
	return take(api, api->GetTensorMutableData(v, data), err, errlen);
}

void vb_release_info(const OrtApi *api, OrtMemoryInfo *info) { api->ReleaseMemoryInfo(info); }
void vb_release_binding(const OrtApi *api, OrtIoBinding *b) { api->ReleaseIoBinding(b); }
void vb_release_value(const OrtApi *api, OrtValue *v) { api->ReleaseValue(v); }
