// onnxruntime-web (wasm, one thread) in Node for benchmarks/runtime_matrix.py:
//   node runtime_matrix_web.mjs examples/web/package.json JOBS.json
// JOBS.json: [{model, inputs: {name: {shape, file}}, output_file, error_file}], raw float32 files.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";

const require = createRequire(process.argv[2]);   // resolve onnxruntime-web from examples/web
const ort = require("onnxruntime-web");
ort.env.wasm.numThreads = 1;

for (const job of JSON.parse(readFileSync(process.argv[3], "utf8"))) {
  try {
    const session = await ort.InferenceSession.create(readFileSync(job.model), { executionProviders: ["wasm"] });
    const feeds = {};
    for (const [name, spec] of Object.entries(job.inputs)) {
      const bytes = readFileSync(spec.file);
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      feeds[name] = new ort.Tensor("float32", data, spec.shape);
    }
    const output = (await session.run(feeds))[session.outputNames[0]];
    writeFileSync(job.output_file, Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
  } catch (error) {
    writeFileSync(job.error_file, String(error && error.message ? error.message : error));
  }
}
