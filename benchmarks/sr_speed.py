"""Tiled ×4 super-resolution speed: `i2i translate` (torch and onnxruntime) beside Real-ESRGAN's tile loop.

    python benchmarks/sr_speed.py [--size 128] [--files 3] [--tile 64] [--tile-pad 10] [--blocks 23]
        [--threads 2] [--repeats 2] [--out benchmarks/results/sr_speed.md]

Network: RRDBNet ×4 in the shape of Real-ESRGAN's RealESRGAN_x4plus (23 RRDB blocks, 64 features,
growth 32: 16,697,987 parameters) with i2i's random initialisation, seed 0 — speed does not depend on
the weights — stored as an imported SR checkpoint is (RGB in [0, 1], no mean/std).

Photos: FILES real photos, SIZE² squares of scikit-image's bundled photographs (as translate_speed.py).

Contenders, each timed as the best of REPEATS passes over the folder, passes interleaved so that the
load of a shared machine falls on all alike, each writing 8-bit PNGs:
- `realesrgan-style`: a re-creation of Real-ESRGAN's `RealESRGANer.enhance` with `tile_process`, as its
  inference script runs (realesrgan's package needs basicsr, which does not install on this torch;
  the loop below follows realesrgan/utils.py: cv2 read, /255, pre-pad 10 reflect, tiles of TILE with
  TILE_PAD context processed one at a time under no_grad, pasted without blending, crop, clamp, round,
  cv2 write) — its seams are hard cuts;
- `i2i torch` and `i2i onnx`: `translate_files` (what `i2i translate DIR --out OUT --tile TILE
  --tile-pad TILE_PAD` runs: decode threads, tiles cross-faded over the feather, encode threads, atomic
  writes) with the torch backend and with the exported ONNX graph in onnxruntime.
Achieved GFLOP/s: FLOPs of the windows each contender actually runs (torch.utils.flop_counter on one
window of each size; 2 FLOPs per multiply-accumulate of the convolutions) over its time, beside the
fp32 matmul GFLOP/s of this machine (2048³, best of 5): the CPU's practical peak.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from translate_speed import cpu_name, matmul_gflops, write_photos  # noqa: E402

from i2i.checkpoint import make_header, save_checkpoint  # noqa: E402
from i2i.data.demo.photos import TRAIN  # noqa: E402
from i2i.export.onnx import export_onnx  # noqa: E402
from i2i.inference.backend import load_backend  # noqa: E402
from i2i.inference.jobs import collect_jobs  # noqa: E402
from i2i.inference.pipeline import translate_files  # noqa: E402
from i2i.inference.tiling import TileSpec  # noqa: E402
from i2i.models import RRDBNet, RRDBNetConfig  # noqa: E402
from i2i.preprocess import Preprocess  # noqa: E402


def rrdb_checkpoint(path: Path, blocks: int) -> RRDBNet:
    torch.manual_seed(0)
    network = RRDBNet(RRDBNetConfig(scale=4, channels=64, growth=32, num_blocks=blocks)).eval()
    preprocess = Preprocess(size=256, mean=(0.0,) * 3, std=(1.0,) * 3, scale=4)
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": network}, preprocess, {"batchnorm": "running"}, {},
                         {"steps": 0, "note": "random initialisation, seed 0 (benchmarks/sr_speed.py)"})
    save_checkpoint(path, {"LR->HR": network}, header)
    return network


# -- Real-ESRGAN's inference, re-created -------------------------------------------------------------
def realesrgan_tiles(height: int, width: int, tile: int, pad: int) -> list[tuple[int, int]]:
    """(h, w) of the windows RealESRGANer.tile_process runs on an image of height × width."""
    sizes = []
    for y in range(math.ceil(height / tile)):
        for x in range(math.ceil(width / tile)):
            top, left = y * tile, x * tile
            bottom, right = min(top + tile, height), min(left + tile, width)
            sizes.append((min(bottom + pad, height) - max(top - pad, 0), min(right + pad, width) - max(left - pad, 0)))
    return sizes


def realesrgan_enhance(model: torch.nn.Module, image: np.ndarray, tile: int, pad: int, pre_pad: int = 10,
                       scale: int = 4) -> np.ndarray:
    """RealESRGANer.enhance for an 8-bit BGR image with tile > 0: the same steps in the same order."""
    rgb = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2RGB)
    img = torch.from_numpy(np.transpose(rgb, (2, 0, 1))).float().unsqueeze(0)
    img = F.pad(img, (0, pre_pad, 0, pre_pad), "reflect")
    _, channels, height, width = img.shape
    output = img.new_zeros((1, channels, height * scale, width * scale))
    for y in range(math.ceil(height / tile)):
        for x in range(math.ceil(width / tile)):
            x0, y0 = x * tile, y * tile
            x1, y1 = min(x0 + tile, width), min(y0 + tile, height)
            px0, px1, py0, py1 = max(x0 - pad, 0), min(x1 + pad, width), max(y0 - pad, 0), min(y1 + pad, height)
            with torch.no_grad():
                out = model(img[:, :, py0:py1, px0:px1])
            ox, oy = (x0 - px0) * scale, (y0 - py0) * scale
            output[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                out[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    output = output[:, :, :(height - pre_pad) * scale, :(width - pre_pad) * scale]
    result = output.squeeze().float().clamp_(0, 1).numpy()
    return (np.transpose(result[[2, 1, 0]], (1, 2, 0)) * 255.0).round().astype(np.uint8)


def realesrgan_pass(model: torch.nn.Module, files: list[Path], out: Path, tile: int, pad: int) -> float:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(out / path.name), realesrgan_enhance(model, image, tile, pad))
    return time.perf_counter() - started


def i2i_pass(backend: object, files: list[Path], out: Path, spec: TileSpec) -> float:
    jobs = collect_jobs([str(f) for f in files], out)
    started = time.perf_counter()
    report = translate_files(backend, jobs, overwrite=True, tile=spec, batch_size=1)
    assert len(report.written) == len(files) and not report.failed, report.failed
    return time.perf_counter() - started


def i2i_windows(height: int, width: int, spec: TileSpec) -> list[tuple[int, int]]:
    """(h, w) of the windows i2i's tiler runs (recorded by running it with a stub network)."""
    from i2i.inference.tiling import translate_tiled

    seen: list[tuple[int, int]] = []

    def record(batch: np.ndarray) -> np.ndarray:
        seen.extend([batch.shape[2:]] * len(batch))
        return np.zeros((len(batch), 3, batch.shape[2] * 4, batch.shape[3] * 4), np.float32)

    translate_tiled(record, np.zeros((height, width, 3), np.float32), spec, scale=4, multiple_of=1, min_size=1,
                    batch_size=1, dtype=np.uint8)
    return seen


def window_flops(model: torch.nn.Module, windows: list[tuple[int, int]]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    total, cache = 0, {}
    for size in windows:
        if size not in cache:
            counter = FlopCounterMode(display=False)
            with counter, torch.inference_mode():
                model(torch.rand(1, 3, *size))
            cache[size] = counter.get_total_flops()
        total += cache[size]
    return total


def seam_error(files: list[Path], tiled: Path, whole: Path) -> int:
    """Max |tiled − untiled| (8-bit levels) over the files: 0 means the tiles left no trace."""
    worst = 0
    for path in files:
        a = cv2.imread(str(tiled / path.name)).astype(int)
        b = cv2.imread(str(whole / path.name)).astype(int)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--tile-pad", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=23)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sr_speed.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_gflops(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="sr_speed_"))
    files = write_photos(scratch / "photos", TRAIN, args.size, args.files)
    model = rrdb_checkpoint(scratch / "rrdb.safetensors", args.blocks)
    export_onnx(scratch / "rrdb.safetensors", scratch / "rrdb.onnx")
    spec = TileSpec(args.tile, args.tile_pad, min(16, 2 * args.tile_pad))
    backends = {"i2i torch": load_backend(scratch / "rrdb.safetensors", device="cpu"),
                "i2i onnx": load_backend(scratch / "rrdb.onnx", device="cpu")}
    times: dict[str, float] = {}
    for repeat in range(args.repeats):
        runs = {"realesrgan-style": lambda: realesrgan_pass(model, files, scratch / "esrgan", args.tile,
                                                             args.tile_pad)}
        runs.update({name: (lambda b=b, n=name: i2i_pass(b, files, scratch / n.replace(" ", "-"), spec))
                     for name, b in backends.items()})
        for name, run in runs.items():
            seconds = run()
            times[name] = min(times.get(name, math.inf), seconds)
            print(f"pass {repeat + 1}: {name} {seconds:.1f} s", flush=True)
    padded = args.size + 10  # Real-ESRGAN's pre-pad
    flops = {"realesrgan-style": window_flops(model, realesrgan_tiles(padded, padded, args.tile, args.tile_pad)),
             **{name: window_flops(model, i2i_windows(args.size, args.size, spec)) for name in backends}}
    whole = scratch / "whole"
    translate_files(backends["i2i torch"], collect_jobs([str(f) for f in files], whole), overwrite=True)
    seams = {"realesrgan-style": seam_error(files, scratch / "esrgan", whole),
             **{name: seam_error(files, scratch / name.replace(" ", "-"), whole) for name in backends}}
    write_report(args, peak, files, times, flops, seams)


def write_report(args: argparse.Namespace, peak: float, files: list[Path], times: dict[str, float],
                 flops: dict[str, int], seams: dict[str, int]) -> None:
    base = times["realesrgan-style"]
    lines = [f"# Tiled ×4 SR speed (RRDBNet {args.blocks} blocks, 64 features)", "",
             f"`{' '.join(shlex.quote(a) for a in ['python', 'benchmarks/sr_speed.py', *sys.argv[1:]])}` on "
             f"{cpu_name()}, torch {torch.__version__}, {args.threads} threads; {args.files} photos of "
             f"{args.size}², tile {args.tile}, pad {args.tile_pad}; best of {args.repeats}; fp32 matmul peak "
             f"{peak:.0f} GFLOP/s.", "",
             "| contender | s per image | images/s | × realesrgan-style | GFLOP/s (% of peak) | max diff to untiled i2i (8-bit) |",
             "|---|---|---|---|---|---|"]
    for name, seconds in times.items():
        per_image = seconds / len(files)
        gflops = flops[name] * len(files) / seconds / 1e9
        lines.append(f"| {name} | {per_image:.2f} | {1 / per_image:.3f} | {base / seconds:.2f} | "
                     f"{gflops:.0f} ({100 * gflops / peak:.0f}%) | {seams[name]} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
