"""A PNG written band of rows by band of rows, so that a tiled translation of any size never holds its
whole output: Pillow and OpenCV encode only from a complete image (Pillow from its own copy, at 4 bytes
a pixel for RGB), which for a 30000² output is 2.7 GB held plus 3.6 GB copied.

The file is standard PNG (8 or 16 bits a sample; grey, grey + alpha, RGB or RGBA, as the output of
`write_image` would be), each row filtered with PNG's "Up" filter (the difference to the row above,
vectorised over a band) and deflated at zlib's default level: the pixels are the ones `write_image`
writes, the bytes are not Pillow's (it picks a filter per row).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from i2i.files import atomic_write
from i2i.images import Decoded, luma, quantise, unit_float
from i2i.inference.tiling import decoded_block

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}   # channels → PNG colour type (grey, grey + alpha, RGB, RGBA)
_CHUNK = 1 << 20                            # IDAT chunks of about 1 MiB


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: Path, bands: Iterable[np.ndarray], width: int, height: int, level: int = 6) -> None:
    """Write `bands` (each rows × `width` × C, C = 1–4, all uint8 or all uint16, top to bottom, `height`
    rows in all) to `path` as one PNG."""
    written = 0
    previous: np.ndarray | None = None
    compressor = zlib.compressobj(level)
    pending = bytearray()
    with open(path, "wb") as handle:
        for band in bands:
            if band.ndim == 2:
                band = band[:, :, None]
            if band.shape[1] != width or written + band.shape[0] > height:
                raise ValueError(f"band of {band.shape[:2]} does not fit a {width}×{height} PNG at row {written}")
            data = band.astype(">u2" if band.dtype == np.uint16 else np.uint8, copy=False)
            rows = np.ascontiguousarray(data).view(np.uint8).reshape(band.shape[0], -1)
            if previous is None:
                bits = 16 if band.dtype == np.uint16 else 8
                handle.write(_SIGNATURE + _chunk(b"IHDR", struct.pack(
                    ">IIBBBBB", width, height, bits, _COLOUR_TYPES[band.shape[2]], 0, 0, 0)))
                previous = np.zeros_like(rows[:1])
            filtered = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
            filtered[:, 0] = 2                                  # "Up": each byte minus the one above
            np.subtract(rows[:1], previous, out=filtered[:1, 1:])
            np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
            previous = rows[-1:].copy()
            pending += compressor.compress(filtered.data)
            while len(pending) >= _CHUNK:
                handle.write(_chunk(b"IDAT", bytes(pending[:_CHUNK])))
                del pending[:_CHUNK]
            written += band.shape[0]
        if written != height or previous is None:
            raise ValueError(f"{written} rows were given for a PNG of {height}")
        pending += compressor.flush()
        handle.write(_chunk(b"IDAT", bytes(pending)) + _chunk(b"IEND", b""))


def write_tiled_png(target: Path, rows: Iterator[np.ndarray], decoded: Decoded, *, scale: int, bits: int,
                    grayscale: bool, alpha: bool) -> None:
    """`tiling.tiled_rows` of `decoded` into the PNG `target`, atomically, as `write_image` would write
    the whole output: luma for a grey super-resolution output (`grayscale`), the input's alpha (at
    scale 1 only: it is not resized here) as the last channel."""
    height, width = decoded.shape
    if alpha and scale != 1:
        raise ValueError("a streamed PNG carries alpha only at scale 1")

    def bands() -> Iterator[np.ndarray]:
        start = 0
        for block in rows:
            planes = [luma(block)[:, :, None] if grayscale else block]
            if alpha:
                plane = decoded_block(decoded, np.arange(start, start + len(block)), np.arange(width))[:, :, -1]
                planes.append(quantise(unit_float(plane), bits).astype(block.dtype)[:, :, None])
            start += len(block)
            yield np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]

    atomic_write(target, lambda temporary: write_png(temporary, bands(), width * scale, height * scale),
                 suffix=".png", durable=False)
