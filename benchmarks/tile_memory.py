"""Peak memory of `i2i translate --tile` on a large photo through CycleGAN's ResNet-9 generator.

    python benchmarks/tile_memory.py [--size 4096] [--tile 512] [--backends torch onnx int8] [--model CKPT]
        [--out benchmarks/results/tile_memory.md]

Model: the ResNet-9 generator at paper width (ngf 64, random initialisation, seed 0; as
benchmarks/translate_speed.py) or `--model`. Input: a SIZE×SIZE photo mosaic (scikit-image's photos, as
benchmarks/tiled_upscale.py). Each backend runs `i2i translate MODEL big.png --out … --tile TILE` in a
child process (torch: the checkpoint; onnx: its `i2i export`; int8: `i2i export --quantize int8`),
whose peak resident memory (getrusage of the child) and wall time are reported, beside the same
command on a 256² photo: the memory the process needs whatever the image (Python, torch or
onnxruntime, the model). Before the big runs, one tile window is timed to estimate their duration.
"""

from __future__ import annotations

import argparse
import datetime
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tiled_upscale import mosaic, run_translate
from translate_speed import ROOT, resnet9_checkpoint

from i2i.export.onnx import export_onnx
from i2i.inference.backend import load_backend
from i2i.inference.tiling import TileSpec

# Child processes measuring one part each: (peak RSS before, after) in MiB, printed on the last line.
# The peak is VmHWM, which exec resets (ru_maxrss would start at the RSS of the parent that forked it).
_PEAK = """
def peak():
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0]) / 1024
"""
_DECODE = _PEAK + """
import sys
from i2i.images import read_image
before = peak()
read_image(sys.argv[1])
print(before, peak())
"""
_WINDOW = _PEAK + """
import sys
import numpy as np
from i2i.inference.backend import load_backend
model, side, mem_pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "on"
if mem_pattern:
    run = load_backend(model).run
else:  # the same graph in a session that plans no memory pattern
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    run = lambda batch: session.run(None, {session.get_inputs()[0].name: batch})[0]
before = peak()
window = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
run(window)
run(window)
print(before, peak())
"""


def child_peaks(code: str, *args: str) -> tuple[float, float]:
    result = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                            cwd=ROOT)
    before, after = result.stdout.strip().splitlines()[-1].split()
    return float(before), float(after)


def breakdown(files: dict[str, Path], image: Path, window: int) -> list[list[str]]:
    """Where the peak comes from: decoding the image, and one window through each backend (for onnx
    files also with onnxruntime's memory pattern off)."""
    before, after = child_peaks(_DECODE, str(image))
    rows = [["decode: `read_image` of the input PNG (float32 RGB + the uint8 decode + a float temporary)",
             f"{before:.0f} MiB", f"+{after - before:.0f} MiB"]]
    for name, model in files.items():
        settings = ["on", "off"] if str(model).endswith(".onnx") else ["on"]
        for mem_pattern in settings:
            before, after = child_peaks(_WINDOW, str(model), str(window), mem_pattern)
            label = f"{name}: one {window}² window, run twice" + (
                " — session with `enable_mem_pattern=False`" if mem_pattern == "off" else "")
            rows.append([label, f"{before:.0f} MiB (model loaded)", f"+{after - before:.0f} MiB"])
    return rows


def models(checkpoint: Path, backends: list[str], scratch: Path, calibration: Path) -> dict[str, Path]:
    files = {}
    if "torch" in backends:
        files["torch"] = checkpoint
    if "onnx" in backends or "int8" in backends:
        report = export_onnx(checkpoint, scratch / "model.onnx", quantize="int8" if "int8" in backends else None,
                             calibration=calibration if "int8" in backends else None)
        if "onnx" in backends:
            files["onnx"] = report.path
        if "int8" in backends:
            files["int8"] = report.quantized.path
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx", "int8"])
    parser.add_argument("--model", type=Path, help="checkpoint (default: random-init ResNet-9, ngf 64)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tile_memory.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="i2i-tile-memory-") as scratch:
        scratch = Path(scratch)
        checkpoint = args.model or resnet9_checkpoint(scratch / "resnet9.safetensors")
        big = mosaic(args.size)
        Image.fromarray(big).save(scratch / "big.png")
        Image.fromarray(big[:256, :256]).save(scratch / "small.png")
        (scratch / "calibration").mkdir()
        Image.fromarray(big[:256, :256]).save(scratch / "calibration" / "a.png")
        Image.fromarray(big[-256:, -256:]).save(scratch / "calibration" / "b.png")
        files = models(checkpoint, args.backends, scratch, scratch / "calibration")
        spec = TileSpec(args.tile)
        backend = load_backend(checkpoint)
        window = spec.window(backend.preprocess.multiple_of, backend.preprocess.min_size)
        tiles = math.ceil(args.size / args.tile) ** 2
        for name, model in files.items():
            runner = load_backend(model)
            sample = np.random.default_rng(0).random((1, 3, window, window), dtype=np.float32)
            runner.run(sample)
            started = time.perf_counter()
            runner.run(sample)
            per_tile = time.perf_counter() - started
            print(f"{name}: one {window}² window {per_tile:.1f} s → about {per_tile * tiles / 60:.1f} min for "
                  f"{tiles} tiles", flush=True)
            del runner
            small_seconds, small_peak = run_translate(str(model), scratch / "small.png", scratch / f"small-{name}", [])
            seconds, peak = run_translate(str(model), scratch / "big.png", scratch / f"big-{name}",
                                          ["--tile", str(args.tile)])
            output = Image.open(scratch / f"big-{name}" / "big.png")
            assert output.size == (args.size, args.size)
            rows.append([name, f"{args.size}×{args.size}", f"{args.tile} (window {window}², {tiles} tiles)",
                         f"{seconds / 60:.1f} min", f"**{peak:.0f} MiB**", f"{'yes' if peak <= 1536 else 'no'}",
                         f"{small_peak:.0f} MiB ({small_seconds:.1f} s)"])
            print(rows[-1], flush=True)
        parts = breakdown(files, scratch / "big.png", window)

    command = "python benchmarks/tile_memory.py " + " ".join(sys.argv[1:])
    lines = [
        "# Peak memory of tiled translation: ResNet-9 (ngf 64) at 4096² with --tile 512",
        "",
        f"`{command.strip()}` — {datetime.date.today().isoformat()}. Model: "
        f"{'ResNet-9 generator, ngf 64, random init (seed 0)' if args.model is None else args.model}. Peak RSS "
        f"of the `i2i translate` process (getrusage of the child); target ≤ 1.5 GB (1536 MiB).",
        "",
        "| backend | input | tile | wall time | peak RSS | ≤ 1.5 GB | same command on a 256² photo |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "Where it goes (each part in a fresh process; peak RSS before the part and its increase):",
        "",
        "| part | process before | peak increase |",
        "|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in parts),
    ]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
