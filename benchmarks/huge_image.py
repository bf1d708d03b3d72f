"""Peak memory of `i2i translate --tile 512` on 30000² images, against the budget "the 8-bit input +
the output + 1 GB", and what the same images do without --tile.

    python benchmarks/huge_image.py [--side 30000] [--tile 512] [--backend onnx|torch]
        [--out benchmarks/results/huge_image.md]

Inputs, made here: a real 1-bit PNG (109 KB on disk, 900 megapixels: the file that used to grow
`i2i translate` to the machine's whole memory until the kernel's OOM killer ended it), and an RGB PNG
of a computed pattern. Model: the tiniest network, an SRVGG ×1 with 4 channels whose last convolution
is zero, so that its output is its input exactly (exported to ONNX by default: the fastest tiles on a
CPU); the translation's cost is then the pipeline's own. Each run is a child process whose peak
resident memory (its VmHWM at exit) and wall time are reported; every output row is checked
against its input by decoding the PNG stream row by row (no 2.7 GB copy in this process).
"""

from __future__ import annotations

import argparse
import datetime
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from i2i.checkpoint import make_header, save_checkpoint
from i2i.inference.png_stream import write_png
from i2i.models import SRVGGNet
from i2i.models.srvgg import SRVGGNetConfig
from i2i.preprocess import Preprocess

ROOT = Path(__file__).resolve().parents[1]
GB = 1e9


def identity_model(folder: Path, backend: str) -> Path:
    net = SRVGGNet(SRVGGNetConfig(scale=1, channels=4, num_convs=0))
    with torch.no_grad():
        for parameter in net.tail.parameters():
            parameter.zero_()
    checkpoint = folder / "identity.safetensors"
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net},
                         Preprocess(size=32, mean=(0.0,) * 3, std=(1.0,) * 3), {"batchnorm": "running"}, {}, {})
    save_checkpoint(checkpoint, {"LR->HR": net}, header)
    if backend == "torch":
        return checkpoint
    subprocess.run([sys.executable, "-m", "i2i", "export", str(checkpoint), "--out", str(folder / "identity.onnx")],
                   check=True, cwd=ROOT, capture_output=True)
    return folder / "identity.onnx"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def one_bit_png(path: Path, side: int) -> None:
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))


def pattern_rows(top: int, count: int, side: int) -> np.ndarray:
    """Rows [top, top + count) of the RGB pattern (a few gradients and a checker)."""
    y, x = np.mgrid[top:top + count, 0:side]
    return np.stack([(x * 7 + y) % 256, (x // 3) ^ (y // 5), ((x // 64 + y // 64) % 2) * 200 + 20], -1).astype(np.uint8)


def rgb_png(path: Path, side: int) -> None:
    write_png(path, (pattern_rows(top, min(256, side - top), side) for top in range(0, side, 256)), side, side, level=1)


def png_rows(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(channels, row) of an 8-bit PNG written with the "Up" filter (i2i's streamed PNG), decoded row
    by row: never more than a few rows of it in memory (a zlib stream of zeros expands 1000-fold)."""
    with path.open("rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        decompressor, previous, pending, stride, channels = zlib.decompressobj(), None, bytearray(), 0, 0
        while True:
            length, kind = struct.unpack(">I4s", handle.read(8))
            data = handle.read(length)
            handle.read(4)
            if kind == b"IHDR":
                width, _, bits, colour = struct.unpack(">IIBB", data[:10])
                assert bits == 8
                channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
                stride = 1 + width * channels
            elif kind == b"IDAT":
                while data:
                    pending += decompressor.decompress(data, 64 * stride)
                    data = decompressor.unconsumed_tail
                    whole = len(pending) // stride
                    for index in range(whole):
                        line = pending[index * stride:(index + 1) * stride]
                        assert line[0] == 2, "every row of a streamed PNG is Up-filtered"
                        row = np.frombuffer(line, np.uint8, offset=1)
                        previous = row.copy() if previous is None else previous + row
                        yield channels, previous.reshape(width, channels)
                    del pending[:whole * stride]
            elif kind == b"IEND":
                return


def verify(output: Path, side: int, expected: str) -> str:
    count = 0
    for y, (channels, row) in enumerate(png_rows(output)):
        assert channels == 3
        want = np.zeros((side, 3), np.uint8) if expected == "black" else pattern_rows(y, 1, side)[0]
        assert np.array_equal(row, want), f"row {y} differs"
        count += 1
    assert count == side, f"{count} rows"
    return f"all {side:,} rows equal the input"


# `python -m i2i …` printing its own peak resident size at exit: VmHWM starts afresh at exec, where a
# forked child's ru_maxrss would start from the RSS of this process (which made the inputs).
_MEASURED = """
import atexit, runpy, sys
atexit.register(lambda: print("peak", open("/proc/self/status").read().split("VmHWM:")[1].split()[0], file=sys.stderr))
sys.argv = ["i2i", *sys.argv[1:]]
runpy.run_module("i2i", run_name="__main__", alter_sys=True)
"""


def measured(arguments: list[str]) -> tuple[int, float, float, str]:
    """(exit status, peak RSS in bytes, seconds, output) of `i2i ARGUMENTS` in a child process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURED, *arguments], capture_output=True, text=True, cwd=ROOT,
                            check=False)
    text = result.stdout + result.stderr
    peak = int(next(line.split()[1] for line in text.splitlines() if line.startswith("peak "))) * 1024
    return result.returncode, peak, time.perf_counter() - started, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=30_000)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "huge_image.md")
    args = parser.parse_args()
    side, rows, refusals = args.side, [], []
    with tempfile.TemporaryDirectory(prefix="i2i-huge-") as scratch:
        scratch = Path(scratch)
        model = identity_model(scratch, args.backend)
        cases = [("1-bit PNG (black)", "one_bit.png", one_bit_png, "black", side * side),
                 ("RGB PNG (pattern)", "rgb.png", rgb_png, "pattern", 3 * side * side)]
        for label, name, make, expected, input_bytes in cases:
            folder = scratch / name.split(".")[0]
            folder.mkdir()
            make(folder / name, side)
            print(f"{label}: {(folder / name).stat().st_size:,} bytes on disk", flush=True)
            base = ["translate", str(model), str(folder / name), "--device", "cpu"]
            status, peak, seconds, text = measured([*base, "--out", str(scratch / f"whole-{name}")])
            lines = text.splitlines()
            message = next((line for line in lines if line.startswith("error")),
                           next((line for line in lines if line.startswith("translated")), text))
            refusals.append((label, status, peak, message.replace(f"{scratch}/", "")))
            status, peak, seconds, text = measured([*base, "--out", str(scratch / "out"), "--tile", str(args.tile)])
            assert status == 0, text
            check = verify(scratch / "out" / name, side, expected)
            budget = input_bytes + 3 * side * side + 1e9
            rows.append([label, f"{side:,}²", f"{(folder / name).stat().st_size / 1e6:,.1f} MB",
                         f"{input_bytes / GB:.1f} GB", f"{3 * side * side / GB:.1f} GB", f"{seconds / 60:.1f} min",
                         f"**{peak / GB:.2f} GB**", f"{budget / GB:.1f} GB", "yes" if peak <= budget else "no", check])
            print(rows[-1], flush=True)
            (scratch / "out" / name).unlink()
            (folder / name).unlink()
    write_report(args, rows, refusals)


def write_report(args: argparse.Namespace, rows: list[list[str]], refusals: list[tuple]) -> None:
    command = "python benchmarks/huge_image.py " + " ".join(sys.argv[1:])
    lines = [
        f"# Huge images: {args.side:,}² with `--tile {args.tile}`, and without",
        "",
        (f"`{command.strip()}` — {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores. Model: SRVGG ×1, "
         f"4 channels, zero last convolution (output = input), {args.backend} backend. Peak RSS: VmHWM of "
         f"the `i2i translate` process. Budget: the 8-bit input + the 8-bit RGB output + 1 GB."),
        "",
        "| input | size | on disk | 8-bit input | output | wall time | peak RSS | budget | within | output checked |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "The same files without `--tile`:",
        "",
        "| input | exit status | peak RSS | message |",
        "|---|---|---|---|",
        *(f"| {label} | {status} | {peak / GB:.2f} GB | `{message}` |" for label, status, peak, message in refusals),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
