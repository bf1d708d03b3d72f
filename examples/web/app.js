// i2i in the browser: an `i2i export` ONNX model run by onnxruntime-web's wasm backend, single-threaded.
//
// The model's contract comes from its own bytes: onnxruntime-web does not expose an ONNX model's
// metadata_props, so readMetadataProps() walks the top level of the ModelProto (a dozen lines of
// protobuf wire format) and reads field 14, the key/value entries that `i2i export` writes (`i2i` JSON,
// `i2i.direction`, `i2i.multiple_of`, …). Any exported file works as it is: no sidecar.
//
// Pipeline, as `i2i translate` does it: RGBA pixels → alpha composited onto white → float32 NCHW RGB
// in [0, 1] → reflect-padded at the bottom and right to the multiple (≥ min_size) → the graph (its
// normalisation is folded in) → cropped back to the input size × scale → 8-bit canvas.
// For tests and tools: window.i2i holds {metadata, lastInput, lastOutput (CHW Float32Arrays in [0, 1],
// unpadded), translations (a count)} and <body data-state> is loading | ready | translating | done | error.

import * as ort from "./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.wasm.numThreads = 1;   // no SharedArrayBuffer, so no COOP/COEP headers needed

const $ = (id) => document.getElementById(id);
const state = (name, message) => { document.body.dataset.state = name; $("status").textContent = message; };
window.i2i = { metadata: null, lastInput: null, lastOutput: null, translations: 0 };
let model = null;   // {session, contract, name}

// -- the model's metadata_props, from the protobuf bytes ---------------------------------------------
export function readMetadataProps(bytes) {
  let pos = 0;
  const varint = () => {   // up to 2^53: enough for any length or tag in a file a browser can hold
    let value = 0, factor = 1, byte;
    do {
      if (pos >= bytes.length) throw new Error("not an ONNX model (truncated protobuf)");
      byte = bytes[pos++];
      value += (byte & 0x7f) * factor;
      factor *= 128;
    } while (byte & 0x80);
    return value;
  };
  const fields = (end, onString) => {   // walk one message, calling onString(field, start, end) for length-delimited fields
    while (pos < end) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) { const length = varint(), start = pos; pos += length; onString(field, start, pos); }
      else throw new Error(`not an ONNX model (protobuf wire type ${wire})`);
    }
    if (pos !== end) throw new Error("not an ONNX model (protobuf fields overrun)");
  };
  const text = new TextDecoder();
  const props = {};
  fields(bytes.length, (field, start, end) => {
    if (field !== 14) return;   // ModelProto.metadata_props: repeated StringStringEntryProto {1: key, 2: value}
    const saved = pos, entry = {};
    pos = start;
    fields(end, (f, s, e) => { entry[f] = text.decode(bytes.subarray(s, e)); });
    pos = saved;
    if (entry[1] !== undefined) props[entry[1]] = entry[2] ?? "";
  });
  return props;
}

function contractOf(props) {
  if (!("i2i" in props)) throw new Error("this ONNX file has no i2i metadata (export it with `i2i export`)");
  const header = JSON.parse(props.i2i), preprocess = header.preprocess;
  return {
    direction: props["i2i.direction"], method: header.method,
    multipleOf: Number(props["i2i.multiple_of"]), minSize: Number(preprocess.min_size ?? 1),
    scale: Number(props["i2i.scale"] ?? preprocess.scale ?? 1), mean: preprocess.mean, std: preprocess.std,
    steps: header.trained?.steps,
  };
}

async function loadModel(bytes, name) {
  state("loading", `Loading ${name}…`);
  const props = readMetadataProps(bytes);
  const contract = contractOf(props);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  if (session.inputNames.length !== 1 || session.inputNames[0] !== "image")
    throw new Error(`inputs ${session.inputNames.join(", ")}: this page runs one-input generators (a MUNIT/FUNIT ` +
                    "model takes a style/class code: use `i2i translate`)");
  model = { session, contract, name };
  window.i2i.metadata = props;
  $("metadata").textContent = `${name}: ${contract.method ?? "?"} ${contract.direction}, trained ${contract.steps ?? "?"} steps; sides padded to multiples of ` +
    `${contract.multipleOf} (at least ${contract.minSize}); scale ${contract.scale}; normalisation in the graph ` +
    `(mean ${JSON.stringify(contract.mean)}, std ${JSON.stringify(contract.std)})`;
  state("ready", `Model ${name} ready (${contract.direction}): choose or drop an image.`);
}

// -- one image ------------------------------------------------------------------------------------------
function reflect(index, size) {   // numpy's "reflect" (edge not repeated), repeated when the pad exceeds the image
  if (size === 1) return 0;
  const period = 2 * (size - 1), m = index % period;
  return m < size ? m : period - m;
}

async function translate(blob) {
  if (!model) throw new Error("load a model first");
  state("translating", "Translating…");
  // Raw pixel values, as Pillow reads them: no colour-profile conversion, no premultiplied alpha.
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const width = bitmap.width, height = bitmap.height;
  const inputCanvas = $("input");
  Object.assign(inputCanvas, { width, height });
  const context = inputCanvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
  showScaled(inputCanvas);

  const { multipleOf, minSize, scale } = model.contract;
  const roundUp = (side) => Math.ceil(Math.max(side, minSize) / multipleOf) * multipleOf;
  const paddedH = roundUp(height), paddedW = roundUp(width), plane = width * height;
  const input = new Float32Array(3 * plane), alpha = new Float32Array(plane);
  let opaque = true;
  for (let i = 0; i < plane; i++) {
    const a = rgba[4 * i + 3] / 255;
    alpha[i] = a;
    opaque &&= a === 1;
    for (let c = 0; c < 3; c++) input[c * plane + i] = (rgba[4 * i + c] / 255) * a + (1 - a);
  }
  const padded = new Float32Array(3 * paddedH * paddedW);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < paddedH; y++) {
      const row = c * plane + reflect(y, height) * width, out = (c * paddedH + y) * paddedW;
      for (let x = 0; x < paddedW; x++) padded[out + x] = input[row + reflect(x, width)];
    }

  const started = performance.now();
  const results = await model.session.run({ image: new ort.Tensor("float32", padded, [1, 3, paddedH, paddedW]) });
  const milliseconds = performance.now() - started;
  const result = results.translated, outH = height * scale, outW = width * scale;
  const [, , resultH, resultW] = result.dims;
  const output = new Float32Array(3 * outH * outW);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < outH; y++)
      output.set(result.data.subarray((c * resultH + y) * resultW, (c * resultH + y) * resultW + outW),
                 (c * outH + y) * outW);
  window.i2i.lastInput = { data: input, width, height };
  window.i2i.lastOutput = { data: output, width: outW, height: outH };

  // 8-bit output; alpha is carried over as `i2i translate` does (for scale 1; SR output is drawn opaque).
  const pixels = new ImageData(outW, outH), outPlane = outW * outH;
  for (let i = 0; i < outPlane; i++) {
    for (let c = 0; c < 3; c++) pixels.data[4 * i + c] = output[c * outPlane + i] * 255;   // clamped, rounded
    pixels.data[4 * i + 3] = opaque || scale !== 1 ? 255 : alpha[i] * 255;
  }
  const outputCanvas = $("output");
  Object.assign(outputCanvas, { width: outW, height: outH });
  outputCanvas.getContext("2d", { willReadFrequently: true }).putImageData(pixels, 0, 0);
  showScaled(outputCanvas);
  const link = $("download");
  outputCanvas.toBlob((png) => {
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(png);
    link.download = `${(blob.name ?? "image").replace(/\.[^.]*$/, "")}-translated.png`;
    link.hidden = false;
  }, "image/png");
  window.i2i.translations += 1;
  state("done", `Translated ${width}×${height} (padded to ${paddedW}×${paddedH}) in ${milliseconds.toFixed(0)} ms ` +
               `with ${model.name}.`);
}

function showScaled(canvas) {   // small images are shown enlarged (pixelated), large ones fit the page
  const zoom = Math.min(Math.max(1, Math.floor(256 / Math.max(canvas.width, canvas.height))), 8);
  canvas.style.width = `${canvas.width * zoom}px`;
  canvas.style.maxWidth = "45vw";
}

// -- wiring -------------------------------------------------------------------------------------------
const guarded = (task) => task.catch((error) => { console.error(error); state("error", `Error: ${error.message}`); });
const openFile = (file) => guarded(file.name.toLowerCase().endsWith(".onnx")
  ? file.arrayBuffer().then((buffer) => loadModel(new Uint8Array(buffer), `${file.name} (file)`))
  : translate(file));

$("model-file").addEventListener("change", (event) => event.target.files[0] && openFile(event.target.files[0]));
$("image-file").addEventListener("change", (event) => event.target.files[0] && openFile(event.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) openFile(event.dataTransfer.files[0]);
});

// The served model: ?model=URL, else model.onnx beside the page (serve.py --model PATH puts it there).
const url = new URLSearchParams(location.search).get("model") ?? "model.onnx";
guarded(fetch(url).then(async (response) => {
  if (!response.ok) {
    state("no-model", `No model at ${url} (HTTP ${response.status}): choose an .onnx file.`);
    return;
  }
  await loadModel(new Uint8Array(await response.arrayBuffer()), url.split("/").pop());
}));
