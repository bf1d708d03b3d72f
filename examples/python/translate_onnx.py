"""Translate images with an i2i-exported ONNX model, using numpy + Pillow + onnxruntime only.

Usage:
    python translate_onnx.py MODEL.onnx INPUT... --out DIR [--batch-size N]

INPUT is image files or folders (recursive; the output mirrors the folder tree and keeps each file's
name and format, as `i2i translate` does). Needs `pip install numpy pillow onnxruntime` — no torch and
no i2i: everything the model needs travels in its `metadata_props`:

- the graph takes float32 NCHW RGB in [0, 1] and returns the same; the normalisation (mean/std of the
  `i2i` JSON's "preprocess") is folded into the graph, so it is printed here, not applied;
- H and W must be multiples of `i2i.multiple_of` (and at least "min_size"): each image is reflect-padded
  at the bottom and right, exactly like i2i/preprocess.py, and the output cropped back;
- `i2i.scale` is the output side / input side (super-resolution models).

The int8 (`i2i export --quantize int8`) and fp16 (`--precision fp16`) files work the same way.

Inputs are read with Pillow as 8-bit (EXIF orientation applied; grey is replicated to RGB; alpha is
composited onto white and written back where the format keeps it). 16-bit colour files, tiling and
MUNIT/FUNIT models (a second, style/class code input) are `i2i translate`'s job.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
WRITABLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ALPHA_EXTENSIONS = (".png", ".tif", ".tiff", ".webp")


def read_metadata(session: onnxruntime.InferenceSession) -> dict:
    """The model's contract from its metadata_props: direction, multiple_of, min_size, scale, mean/std."""
    metadata = session.get_modelmeta().custom_metadata_map
    if "i2i" not in metadata:
        raise SystemExit("error: this ONNX file has no i2i metadata (export it with `i2i export`)")
    if "i2i.code_encoder" in metadata or len(session.get_inputs()) != 1:
        raise SystemExit("error: this model takes a style/class code input (MUNIT/FUNIT); use `i2i translate`")
    preprocess = json.loads(metadata["i2i"])["preprocess"]
    return {
        "direction": metadata["i2i.direction"],
        "multiple_of": int(metadata["i2i.multiple_of"]),
        "scale": int(metadata.get("i2i.scale", preprocess.get("scale", 1))),
        "min_size": int(preprocess.get("min_size", 1)),
        "mean": preprocess["mean"],
        "std": preprocess["std"],
    }


def pad_to_multiple(image: np.ndarray, multiple_of: int, min_size: int = 1) -> np.ndarray:
    """Reflect-pad HxWxC at the bottom and right to the smallest multiple of `multiple_of` (≥ min_size)."""
    height, width = image.shape[:2]
    target_h = -(-max(height, min_size) // multiple_of) * multiple_of
    target_w = -(-max(width, min_size) // multiple_of) * multiple_of
    return np.pad(image, ((0, target_h - height), (0, target_w - width), (0, 0)), mode="reflect")


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB HxWx3 float32 in [0, 1] (alpha composited onto white) and the alpha plane, or None."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
        data = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    if not has_alpha:
        return data, None
    alpha = data[:, :, 3]
    return data[:, :, :3] * alpha[:, :, None] + (1.0 - alpha[:, :, None]), alpha


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    pixels = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    if alpha is not None and path.suffix.lower() in ALPHA_EXTENSIONS:
        pixels = np.dstack([pixels, np.round(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)])
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)


def collect(inputs: list[str], out: Path) -> list[tuple[Path, Path]]:
    """(source, target) pairs: folders keep their inner tree, files their name; unwritable formats → .png."""
    pairs = []
    for item in map(Path, inputs):
        if item.is_dir():
            pairs += [(f, out / f.relative_to(item)) for f in sorted(item.rglob("*"))
                      if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
        elif item.is_file():
            pairs.append((item, out / item.name))
        else:
            raise SystemExit(f"error: input {item} does not exist")
    return [(s, t if t.suffix.lower() in WRITABLE_EXTENSIONS else t.with_suffix(".png")) for s, t in pairs]


def translate(session: onnxruntime.InferenceSession, contract: dict, images: list[np.ndarray]) -> list[np.ndarray]:
    """Equal-sized HxWx3 images → translated HxWx3 (× scale), padded to the multiple and cropped back."""
    height, width = images[0].shape[:2]
    batch = np.stack([pad_to_multiple(image, contract["multiple_of"], contract["min_size"]) for image in images])
    # float32 for fp32 and int8 files (QDQ: float in and out); a float16 file may take float16 itself.
    dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=dtype)            # N×3×H×W in [0, 1]
    output = session.run(["translated"], {"image": batch})[0].astype(np.float32)
    scale = contract["scale"]
    return [item.transpose(1, 2, 0)[: height * scale, : width * scale] for item in output]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an .onnx file written by `i2i export`")
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=4, help="images of one size run together")
    args = parser.parse_args(argv)

    session = onnxruntime.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    contract = read_metadata(session)
    print(f"{args.model}: {contract['direction']}, sides padded to multiples of {contract['multiple_of']}, "
          f"scale {contract['scale']}, normalisation in the graph (mean {contract['mean']}, std {contract['std']})")

    # Read every image (this example keeps them in memory), then batch those of equal size.
    jobs = [(source, target, *read_image(source)) for source, target in collect(args.inputs, args.out)]
    groups: dict[tuple[int, ...], list[tuple]] = {}
    for job in jobs:
        groups.setdefault(job[2].shape, []).append(job)
    for group in groups.values():
        for start in range(0, len(group), args.batch_size):
            chunk = group[start: start + args.batch_size]
            for (source, target, _, alpha), output in zip(chunk, translate(session, contract, [j[2] for j in chunk])):
                if alpha is not None and contract["scale"] != 1:
                    size = (output.shape[1], output.shape[0])
                    alpha = np.asarray(Image.fromarray(alpha, "F").resize(size, Image.Resampling.BICUBIC))
                write_image(target, output, alpha)
                print(f"{source} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
