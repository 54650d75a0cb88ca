#ifndef VIDSEG_IOBIND_H
#define VIDSEG_IOBIND_H
#include <stddef.h>
#include "onnxruntime_c_api.h"

// Every function returns 0, or -1 with the runtime's message in err.
int vb_memory_info(const OrtApi *api, int cuda, int device, OrtMemoryInfo **out, char *err, size_t errlen);
int vb_binding(const OrtApi *api, OrtSession *sess, OrtIoBinding **out, char *err, size_t errlen);
int vb_bind_input(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtValue *v, char *err, size_t errlen);
int vb_bind_output(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtValue *v, char *err, size_t errlen);
int vb_bind_output_to(const OrtApi *api, OrtIoBinding *b, const char *name, const OrtMemoryInfo *info, char *err, size_t errlen);
int vb_run(const OrtApi *api, OrtSession *sess, const OrtRunOptions *opts, OrtIoBinding *b, char *err, size_t errlen);
// vb_outputs stores the n bound outputs, in the order they were bound, in
// out (n entries); each is a new reference the caller releases.
int vb_outputs(const OrtApi *api, OrtIoBinding *b, OrtValue **out, size_t n, char *err, size_t errlen);
int vb_data(const OrtApi *api, OrtValue *v, void **data, char *err, size_t errlen);

void vb_release_info(const OrtApi *api, OrtMemoryInfo *info);
void vb_release_binding(const OrtApi *api, OrtIoBinding *b);
void vb_release_value(const OrtApi *api, OrtValue *v);

#endif
