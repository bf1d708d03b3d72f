"""Translate an image with an i2i-exported ONNX model using OpenCV's DNN module only (cv2 + numpy).

Usage:
    python translate_opencv.py MODEL.onnx INPUT OUTPUT [--engine new|classic] [--seed N]
                               [--style-image REF] [--class-images REF...]

No onnxruntime, no onnx package, no torch, no i2i: works with opencv-python 4.x and 5.x
(`pip install numpy opencv-python-headless`). What the model needs travels in its metadata_props,
read here from the file with a few lines of protobuf decoding (cv2.dnn does not expose them):

- the graph takes float32 NCHW RGB in [0, 1] and returns the same (cv2 reads BGR: converted here);
- H and W must be multiples of `i2i.multiple_of`: the image is reflect-padded at the bottom and right,
  as `i2i translate` pads, and the output cropped back (the graph rejects other sizes with an error
  naming the rule, `height_and_width_must_be_multiples_of_M`);
- `i2i.scale` is the output side / input side (super-resolution);
- MUNIT graphs take a style code beside the image: `--seed N` draws it from N(0, I) exactly as
  `i2i translate --seed N` does, `--style-image REF` encodes a reference with the
  MODEL.style_encoder.onnx beside the model. FUNIT graphs take a class code: `--class-images` are the
  K examples of the target class, encoded (and averaged, in the graph) by MODEL.class_encoder.onnx.

OpenCV 5 has two ONNX engines; `--engine classic` picks the one OpenCV 4.x also has.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message's top-level fields; length-delimited
    values as bytes (the graph's megabytes are sliced past, not parsed)."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, at = data[at:at + width], at + width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def read_metadata(path: str | Path) -> dict[str, str]:
    """ModelProto.metadata_props (field 14: key = 1, value = 2) of an ONNX file."""
    props = {}
    for number, wire, value in _fields(Path(path).read_bytes()):
        if number == 14 and wire == 2:
            entry = {n: v.decode() for n, w, v in _fields(value) if w == 2}
            props[entry.get(1, "")] = entry.get(2, "")
    if "i2i" not in props:
        raise SystemExit(f"error: {path} has no i2i metadata (export it with `i2i export`)")
    return props


def load_net(path: str | Path, engine: str | None = None) -> cv2.dnn.Net:
    """cv2.dnn's network for an ONNX file; `engine` ("new" or "classic") on OpenCV 5 only."""
    if engine is None or not hasattr(cv2.dnn, "ENGINE_CLASSIC"):
        return cv2.dnn.readNetFromONNX(str(path))
    return cv2.dnn.readNetFromONNX(str(path), {"new": cv2.dnn.ENGINE_NEW, "classic": cv2.dnn.ENGINE_CLASSIC}[engine])


def run(net: cv2.dnn.Net, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """One forward pass with named float32 inputs."""
    for name, value in inputs.items():
        net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
    return net.forward()


def pad_to_multiple(rgb: np.ndarray, multiple: int, min_size: int = 1) -> np.ndarray:
    """Reflect-pad H×W×C at the bottom and right to multiples of `multiple` (≥ min_size), as i2i pads."""
    height, width = rgb.shape[:2]
    target_h = -(-max(height, min_size) // multiple) * multiple
    target_w = -(-max(width, min_size) // multiple) * multiple
    return np.pad(rgb, ((0, target_h - height), (0, target_w - width), (0, 0)), mode="reflect")


def code_for(model: Path, props: dict[str, str], args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The code input of a MUNIT/FUNIT graph (empty for the others), from --seed or the encoder."""
    kind = props.get("i2i.code_kind")
    if kind is None:
        return {}
    dim, size = int(props["i2i.code_dim"]), json.loads(props["i2i"])["preprocess"]["size"]
    encoder = model.with_name(props["i2i.code_encoder"])
    references = [args.style_image] if kind == "style" and args.style_image else (args.class_images or [])
    if kind == "style" and not references:
        code = np.random.default_rng(args.seed).standard_normal((1, dim)).astype(np.float32)
    elif not references:
        raise SystemExit("error: a FUNIT model needs --class-images (K images of the target class)")
    else:
        batch = np.stack([cv2.resize(read_rgb(p), (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
                          for p in references])
        code = run(load_net(encoder, args.engine), {"image": batch}).reshape(-1, dim)
    return {f"{kind}_code": code}


def read_rgb(path: str | Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"error: {path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def translate(net: cv2.dnn.Net, props: dict[str, str], rgb: np.ndarray,
              codes: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """H×W×3 RGB float in [0, 1] → the translated (H·scale)×(W·scale)×3, in [0, 1]."""
    multiple, scale = int(props["i2i.multiple_of"]), int(props.get("i2i.scale", "1"))
    min_size = int(json.loads(props["i2i"])["preprocess"].get("min_size", 1))
    height, width = rgb.shape[:2]
    blob = pad_to_multiple(rgb, multiple, min_size).transpose(2, 0, 1)[None]
    out = run(net, {"image": blob, **(codes or {})})[0]
    return np.clip(out[:, :height * scale, :width * scale].transpose(1, 2, 0), 0.0, 1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--engine", choices=("new", "classic"), default=None, help="OpenCV 5's ONNX engine")
    parser.add_argument("--seed", type=int, default=0, help="MUNIT: the random style's seed")
    parser.add_argument("--style-image", type=Path, help="MUNIT: take the style of this image")
    parser.add_argument("--class-images", type=Path, nargs="+", help="FUNIT: K images of the target class")
    args = parser.parse_args(argv)
    props = read_metadata(args.model)
    net = load_net(args.model, args.engine)
    out = translate(net, props, read_rgb(args.input), code_for(args.model, props, args))
    bgr = cv2.cvtColor((out * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(args.output), bgr):
        raise SystemExit(f"error: could not write {args.output}")
    print(f"{args.input} → {args.output} ({props['i2i.direction']}, OpenCV {cv2.__version__})")


if __name__ == "__main__":
    main(sys.argv[1:])
