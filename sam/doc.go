// Package sam runs an exported SAM 2 model package (format vidseg-sam2/1,
// see docs/model-package.md) with ONNX Runtime.
//
// A program creates one [Runtime] (ONNX Runtime's environment is
// process-global), opens a [Model] directory with [Open], and calls the four
// graphs: [Model.EncodeImage], [Model.DecodeMasks], [Model.AttendMemory] and
// [Model.EncodeMemory]. The pre- and post-processing helpers
// [UpsampleBilinear] and [MaskToSource] reproduce the reference's
// torch.nn.functional.interpolate calls.
//
// A Model is not safe for concurrent use: each graph reuses its input and
// output tensors from call to call. Use one Model per goroutine, or serialize
// calls.
package sam
