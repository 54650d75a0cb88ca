// Runs one ONNX graph in ONNX Runtime (onnxruntime-node 1.24.1, the same
// library the Go runtime loads) for export.py's self-check; Python has no
// onnxruntime package on these machines.
//
// usage: node ort_check.mjs SPEC.json
// SPEC: {"model": "x.onnx", "out_dir": "dir", "threads": 2,
//        "inputs": {"name": {"file": "in.bin", "dtype": "float32"|"int64", "dims": [..]}}}
// Writes out_dir/<output>.bin (raw little-endian) and out_dir/outputs.json
// ({"name": {"dtype", "dims", "file"}}, plus "run_ms").
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.VIDSEG_ORT_NODE ||
  resolve(here, "..", "..", "third_party", "onnxruntime", "node");
const require = createRequire(join(nodeDir, "package.json"));
const ort = require(nodeDir);

const arrays = {
  float32: Float32Array, float16: Uint16Array, int64: BigInt64Array,
  int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
};

async function main() {
  if (process.argv.length !== 3) throw new Error("usage: node ort_check.mjs SPEC.json");
  const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const session = await ort.InferenceSession.create(spec.model, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: spec.threads || 2,
    interOpNumThreads: 1,
  });
  const feeds = {};
  for (const [name, inp] of Object.entries(spec.inputs)) {
    const Ctor = arrays[inp.dtype];
    if (!Ctor) throw new Error(`input ${name}: unsupported dtype ${inp.dtype}`);
    const buf = readFileSync(inp.file);
    const data = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
    const want = inp.dims.reduce((a, b) => a * b, 1);
    if (data.length !== want) throw new Error(`input ${name}: ${data.length} elements, dims ${inp.dims}`);
    feeds[name] = new ort.Tensor(inp.dtype, data, inp.dims);
  }
  const t0 = process.hrtime.bigint();
  const results = await session.run(feeds);
  const runMs = Number(process.hrtime.bigint() - t0) / 1e6;
  mkdirSync(spec.out_dir, { recursive: true });
  const index = { run_ms: runMs, outputs: {} };
  for (const [name, t] of Object.entries(results)) {
    const file = join(spec.out_dir, `${name}.bin`);
    const d = t.data;
    writeFileSync(file, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    index.outputs[name] = { dtype: t.type, dims: t.dims, file };
  }
  writeFileSync(join(spec.out_dir, "outputs.json"), JSON.stringify(index));
}

main().catch((e) => { console.error(`ort_check: ${e.message || e}`); process.exit(1); });
