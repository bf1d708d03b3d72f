"""Tiled super-resolution of a large image: peak memory, time, and agreement with untiled inference.

    python benchmarks/tiled_upscale.py MODEL [--size 2048] [--tile 256] [--region 384]

MODEL is an SR checkpoint or run directory (e.g. weights/srresnet-x4-photos.safetensors). The script
builds a SIZE×SIZE photo (scikit-image's bundled photos, mirrored into a mosaic), runs
`i2i translate MODEL big.png --tile TILE` in a child process and reads that process's peak resident
memory (getrusage of the child) and wall time. Then it upscales a REGION×REGION crop of the same image
*without* tiling and compares it with the same region of the tiled output, away from the crop's own
border (the untiled crop sees no context beyond it, the big image does): the maximum and mean
absolute difference in 8-bit grey levels. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def mosaic(size: int) -> np.ndarray:
    """A size×size RGB photo mosaic (mirrored tiles of scikit-image's astronaut/coffee/chelsea)."""
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    rows, top, index = [], 0, 0
    while top < size:
        row, left, height = [], 0, None
        while left < size:
            tile = photos[index % len(photos)]
            tile = tile[:, ::-1] if (index // len(photos)) % 2 else tile
            height = height or tile.shape[0]
            tile = np.asarray(Image.fromarray(tile).resize((tile.shape[1] * height // tile.shape[0], height)))
            row.append(tile)
            left += tile.shape[1]
            index += 1
        rows.append(np.concatenate(row, axis=1)[:, :size])
        top += height
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:size])


_MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_translate(model: str, image: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one `i2i translate` process. A fresh intermediate process
    runs it, so the peak (getrusage of its only child) belongs to this translate alone."""
    command = [sys.executable, "-m", "i2i", "translate", model, str(image), "--out", str(out), *extra]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return seconds, int(result.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--region", type=int, default=384)
    parser.add_argument("--margin", type=int, default=32, help="LR pixels of the region's border left out")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        big = mosaic(args.size)
        Image.fromarray(big).save(scratch / "big.png")
        seconds, peak = run_translate(args.model, scratch / "big.png", scratch / "tiled", ["--tile", str(args.tile)])
        tiled = np.asarray(Image.open(scratch / "tiled" / "big.png"))
        scale = tiled.shape[0] // args.size

        top = left = (args.size - args.region) // 2
        Image.fromarray(big[top:top + args.region, left:left + args.region]).save(scratch / "region.png")
        region_seconds, region_peak = run_translate(args.model, scratch / "region.png", scratch / "whole", [])
        whole = np.asarray(Image.open(scratch / "whole" / "region.png")).astype(int)
        inner = slice(args.margin * scale, (args.region - args.margin) * scale)
        ours = tiled[top * scale:(top + args.region) * scale, left * scale:(left + args.region) * scale].astype(int)
        difference = np.abs(ours[inner, inner] - whole[inner, inner])

    print("| input | tile | output | wall time | peak RSS | max / mean abs. diff. vs untiled (8-bit) |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.size}×{args.size} | {args.tile} (pad 16, feather 16) | {tiled.shape[1]}×{tiled.shape[0]} | "
          f"{seconds:.1f} s | {peak:.0f} MiB | {difference.max()} / {difference.mean():.4f} "
          f"(region {args.region}² untiled: {region_seconds:.1f} s, {region_peak:.0f} MiB) |")


if __name__ == "__main__":
    main()
