// Package sam runs an exported SAM 2 model package (format vidseg-sam2/2,
// or the per-object vidseg-sam2/1; see docs/model-package.md) with ONNX
// Runtime.
//
// A program creates one [Runtime] (ONNX Runtime's environment is
// process-global), opens a [Model] directory with [Open], and calls the four
// graphs: [Model.EncodeImage], then for the objects of a frame, each in one
// run, [Model.AttendMemoryBatch], [Model.DecodeMasksBatch] and
// [Model.EncodeMemoryBatch] ([Model.AttendMemory], [Model.DecodeMasks] and
// [Model.EncodeMemory] for one object). Inputs and outputs are Go slices
// that ONNX Runtime reads and writes in place, except on a resident model
// (Options.Resident, the default with CUDA), whose image features stay
// inside ONNX Runtime on the device until [Features.Close]. The pre- and
// post-processing helpers
// [UpsampleBilinear] and [MaskToSource] reproduce the reference's
// torch.nn.functional.interpolate calls.
//
// A Model is not safe for concurrent use: it keeps scratch between calls.
// Use one Model per goroutine, or serialize calls ([Scheduler]).
package sam
