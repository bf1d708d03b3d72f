"""Translation speed on CPU: torch eager, onnxruntime float32 and int8, beside the machine's matmul peak.

    python benchmarks/translate_speed.py [--sizes 256 512] [--files 16] [--repeats 2] [--threads 2]
        [--batch-size 4] [--model CHECKPOINT] [--fidelity CHECKPOINT ...] [--note TEXT] [--no-variants]
        [--out benchmarks/results/translate_speed.md]

Model: CycleGAN's ResNet-9 generator at paper width (ngf 64, 9 blocks, InstanceNorm; 11,378,179
parameters) with i2i's random initialisation, seed 0, saved as an i2i checkpoint — or `--model`, any
single-graph checkpoint. Speed does not depend on the weights; int8 fidelity does, so `--fidelity`
adds the int8 PSNR of other (trained) checkpoints on the same photos.

Photos: FILES real photos per size — centre (and, past the 13th, mirrored corner) squares of
scikit-image's bundled photographs (the `i2i data demo photos` train split), resized to SIZE² with
bicubic. int8 is calibrated on 4 *other* photos (that set's test split), and its PSNR is measured on
the benchmark photos: held-out images.

Per size, timed as the best of REPEATS passes over the folder, the passes of all backends interleaved
so that the load of a shared machine falls on all of them alike:
- pure model time: `backend.run` on the preloaded, padded batches (batches of --batch-size), for the
  same `Backend` objects `i2i translate` builds (torch: `inference_mode`, --threads threads;
  onnxruntime: its default session, one intra-op thread per physical core);
- end to end: `translate_files` (what `i2i translate DIR --out OUT` runs: decode, pad, batch, model,
  crop, encode PNG, atomic write, in its threads) over the same files with the same backend.
images/s and achieved GFLOP/s (FLOPs of one forward counted by torch.utils.flop_counter.FlopCounterMode:
2 FLOPs per multiply-accumulate of the convolutions; norms and activations not counted), beside the
fp32 matmul GFLOP/s of this machine (torch, 2048³, best of 5, --threads threads): the CPU's practical
peak. `--no-variants` skips the table of quantization variants tried (at the first size).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i2i.checkpoint import load_checkpoint, make_header, save_checkpoint  # noqa: E402
from i2i.data.demo.photos import TEST, TRAIN, skimage_data_dir  # noqa: E402
from i2i.export.int8 import image_side_convolutions, prepare, quantize_int8, quiet_quantizer  # noqa: E402
from i2i.export.onnx import export_onnx  # noqa: E402
from i2i.inference.backend import Backend, load_backend
from i2i.inference.deployed import InferenceModel  # noqa: E402
from i2i.inference.jobs import Job
from i2i.inference.pipeline import translate_files  # noqa: E402
from i2i.metrics.pixel import psnr  # noqa: E402
from i2i.models import ResNetConfig, ResNetGenerator  # noqa: E402
from i2i.preprocess import Preprocess  # noqa: E402


# -- inputs -----------------------------------------------------------------------------------------
def square_crop(photo: np.ndarray, variant: int) -> np.ndarray:
    """Variant 0: the centre square; 1, 2, …: the top-left, bottom-right, … squares, mirrored."""
    height, width = photo.shape[:2]
    side = min(height, width)
    if variant == 0:
        top, left = (height - side) // 2, (width - side) // 2
    else:
        top, left = ((0, 0), (height - side, width - side))[(variant - 1) % 2]
    crop = photo[top:top + side, left:left + side]
    return crop[:, ::-1] if variant else crop


def write_photos(folder: Path, names: tuple[str, ...], size: int, count: int) -> list[Path]:
    """`count` SIZE² RGB PNGs cut from the named scikit-image photos (cycling through crop variants)."""
    folder.mkdir(parents=True, exist_ok=True)
    source, files = skimage_data_dir(), []
    for index in range(count):
        name = names[index % len(names)]
        photo = Image.open(source / name).convert("RGB")
        crop = Image.fromarray(np.ascontiguousarray(square_crop(np.asarray(photo), index // len(names))))
        path = folder / f"{index:02d}_{Path(name).stem}.png"
        crop.resize((size, size), Image.Resampling.BICUBIC).save(path)
        files.append(path)
    return files


def resnet9_checkpoint(path: Path, seed: int = 0) -> Path:
    """CycleGAN's ResNet-9 generator, paper width, i2i's initialisation (N(0, 0.02)), as a checkpoint."""
    torch.manual_seed(seed)
    config = ResNetConfig(ngf=64, num_blocks=9)
    network = ResNetGenerator(config)
    preprocess = Preprocess(size=256, multiple_of=config.multiple_of, min_size=config.min_size)
    header = make_header("cyclegan", ["A", "B"], {"A->B": network}, preprocess, {}, {},
                         {"steps": 0, "note": f"random initialisation, seed {seed} (benchmarks/translate_speed.py)"})
    save_checkpoint(path, {"A->B": network}, header)
    return path


# -- measurements -----------------------------------------------------------------------------------
def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = min(_seconds(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def forward_flops(checkpoint: Path, size: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    loaded = load_checkpoint(checkpoint)
    direction = loaded.direction()
    network = InferenceModel(loaded.generator(direction), loaded.preprocess).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        network(torch.rand(1, 3, size, size))
    return counter.get_total_flops()


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def batches_of(files: list[Path], preprocess: Preprocess, batch_size: int) -> list[np.ndarray]:
    """The network inputs `translate` makes of these (equal-sized) files."""
    images = [prepare(path, preprocess)[0] for path in files]
    return [np.concatenate(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]


def model_pass(backend: Backend, batches: list[np.ndarray]) -> float:
    return _seconds(lambda: [backend.run(batch) for batch in batches])


def translate_pass(backend: Backend, files: list[Path], out: Path, batch_size: int) -> float:
    jobs = [Job(path, out / path.name) for path in files]
    seconds = _seconds(lambda: translate_files(backend, jobs, batch_size=batch_size, overwrite=True))
    assert all(job.target.is_file() for job in jobs)
    return seconds


def fidelity(fp32: Backend, int8: Backend, batches: list[np.ndarray]) -> list[float]:
    """Per image PSNR (dB) of the int8 outputs against the float32 outputs."""
    return [psnr(a, b) for batch in batches for a, b in zip(int8.run(batch), fp32.run(batch), strict=True)]


def noise_sensitivity(fp32: Backend, batches: list[np.ndarray], sigma: float = 1 / 255) -> float:
    """Mean PSNR (dB) of the float32 model's outputs when its inputs get N(0, sigma²) noise against
    its outputs on the clean inputs: how much the network amplifies a perturbation of its input — a
    bound for any 8-bit representation of what flows through it."""
    rng = np.random.default_rng(0)
    scores = []
    for batch in batches:
        noisy = np.clip(batch + rng.normal(0, sigma, batch.shape), 0, 1).astype(np.float32)
        scores += [psnr(a, b) for a, b in zip(fp32.run(noisy), fp32.run(batch), strict=True)]
    return float(np.mean(scores))


# -- quantization variants --------------------------------------------------------------------------
def variants(fp32_path: Path, calibration: Path, scratch: Path) -> dict[str, Path]:
    """The int8 recipes tried before the one `i2i export --quantize int8` uses (first row)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic

    model = onnx.load(str(fp32_path))
    files = {}
    recipes: dict[str, tuple[list[str] | None, dict]] = {
        "i2i: QDQ, Conv only, image-side convs fp32 (used)": (None, {}),
        "QDQ, Conv only, every conv int8": ([], {}),
        "QDQ, every op onnxruntime quantizes (Conv, ConvTranspose, InstanceNorm, Add, Pad, …)":
            ([], {"op_types_to_quantize": None}),
        "QDQ, Conv only, image-side fp32, per-tensor weights": (None, {"per_channel": False}),
        "QOperator (QLinearConv in the file), Conv only, image-side fp32":
            (None, {"quant_format": QuantFormat.QOperator, "activation_type": QuantType.QUInt8}),
        "QDQ, conv outputs left float (simulated: no integer kernel runs)":
            (None, {"extra_options": {"OpTypesToExcludeOutputQuantization": ["Conv"]}}),
    }
    for index, (label, (keep_float, options)) in enumerate(recipes.items()):
        path = scratch / f"variant{index}.onnx"
        quantize_int8(fp32_path, path, calibration, keep_float=keep_float, options=options or None)
        files[label] = path
    dynamic = scratch / "dynamic.onnx"
    with quiet_quantizer():
        quantize_dynamic(str(fp32_path), str(dynamic), per_channel=True, op_types_to_quantize=["Conv"],
                         nodes_to_exclude=image_side_convolutions(model))
    proto = onnx.load(str(dynamic))  # translate's backend needs the i2i metadata
    onnx.helper.set_model_props(proto, {p.key: p.value for p in model.metadata_props})
    onnx.save(proto, str(dynamic))
    files["dynamic (ConvInteger, ranges at run time), Conv only, image-side fp32"] = dynamic
    return files


# -- the report -------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--files", type=int, default=16, help="photos per size")
    parser.add_argument("--repeats", type=int, default=2, help="passes per backend (best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (matmul and eager)")
    parser.add_argument("--batch-size", type=int, default=4, help="as `i2i translate --batch-size` (default 4)")
    parser.add_argument("--model", type=Path, help="checkpoint to time (default: random-init ResNet-9, ngf 64)")
    parser.add_argument("--fidelity", type=Path, nargs="*", default=[],
                        help="more checkpoints whose int8 PSNR to measure (e.g. trained ones)")
    parser.add_argument("--no-variants", action="store_true", help="skip the quantization variants table")
    parser.add_argument("--note", default="", help="a paragraph added to the report (e.g. how --fidelity models were made)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "translate_speed.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="i2i-speed-") as scratch:
        scratch = Path(scratch)
        calibration = scratch / "calibration"
        write_photos(calibration, TEST, args.sizes[0], len(TEST))
        checkpoint = args.model or resnet9_checkpoint(scratch / "resnet9.safetensors")
        fp32_path = scratch / "model.onnx"
        exported = export_onnx(checkpoint, fp32_path, quantize="int8", calibration=calibration)
        int8_path = exported.quantized.path
        backends = {"torch eager": load_backend(checkpoint), "onnxruntime fp32": load_backend(fp32_path),
                    "onnxruntime int8": load_backend(int8_path)}
        preprocess = backends["torch eager"].preprocess
        peak = matmul_gflops(args.threads)
        print(f"matmul peak {peak:.1f} GFLOP/s; {exported.quantized.describe()}", flush=True)

        speed_rows, e2e_rows, fidelity_rows, results = [], [], [], {}
        for size in args.sizes:
            files = write_photos(scratch / f"photos{size}", TRAIN, size, args.files)
            batches = batches_of(files, preprocess, args.batch_size)
            flops = forward_flops(checkpoint, size)
            for backend in backends.values():  # warm-up: first-call allocations and kernel selection
                backend.run(batches[0])
            best: dict[str, float] = {}
            for _ in range(args.repeats):
                for name, backend in backends.items():
                    best[name] = min(best.get(name, np.inf), model_pass(backend, batches))
                for name in ("onnxruntime fp32", "onnxruntime int8"):
                    key = f"e2e {name}"
                    seconds = translate_pass(backends[name], files, scratch / f"out{size}", args.batch_size)
                    best[key] = min(best.get(key, np.inf), seconds)
                print(f"{size}²: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()), flush=True)
            results[size] = best
            for name in backends:
                rate = args.files / best[name]
                achieved = flops * rate / 1e9
                speed_rows.append([f"{size}²", name, f"{flops / 1e9:.1f}", f"{rate:.3f}", f"{best[name] / args.files:.3f}",
                                   f"{achieved:.1f}", f"{100 * achieved / peak:.0f}%",
                                   f"{best['torch eager'] / best[name]:.2f}×",
                                   f"{best['onnxruntime fp32'] / best[name]:.2f}×"])
            for name in ("onnxruntime fp32", "onnxruntime int8"):
                pure, e2e = best[name], best[f"e2e {name}"]
                e2e_rows.append([f"{size}²", name, f"{args.files / pure:.3f}", f"{args.files / e2e:.3f}",
                                 f"{100 * pure / e2e:.1f}%"])
            scores = fidelity(backends["onnxruntime fp32"], backends["onnxruntime int8"], batches)
            fidelity_rows.append([f"{size}²", "ResNet-9 ngf 64, random init (timed above)" if args.model is None
                                  else str(args.model), f"{np.mean(scores):.2f}", f"{np.min(scores):.2f}",
                                  f"{noise_sensitivity(backends['onnxruntime fp32'], batches):.2f}"])
        fidelity_rows += extra_fidelity(args.fidelity, calibration, scratch, args.sizes[0], args.files,
                                        args.batch_size)
        variant_rows = [] if args.no_variants else variant_table(fp32_path, calibration, scratch, args.sizes[0],
                                                                 args.files, args.batch_size)

    minutes = (time.perf_counter() - started) / 60
    lines = report(args, peak, speed_rows=speed_rows, e2e_rows=e2e_rows, fidelity_rows=fidelity_rows, variant_rows=variant_rows,
                   describe=exported.quantized.describe(), minutes=minutes)
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


def extra_fidelity(checkpoints: list[Path], calibration: Path, scratch: Path, size: int, count: int,
                   batch_size: int) -> list[list[str]]:
    rows = []
    for index, checkpoint in enumerate(checkpoints):
        fp32_path = scratch / f"fidelity{index}.onnx"
        report = export_onnx(checkpoint, fp32_path, quantize="int8", calibration=calibration)
        fp32, int8 = load_backend(fp32_path), load_backend(report.quantized.path)
        files = write_photos(scratch / f"fidelity{index}-photos", TRAIN, size, count)
        batches = batches_of(files, fp32.preprocess, batch_size)
        scores = fidelity(fp32, int8, batches)
        rows.append([f"{size}²", f"{checkpoint.name} ({describe_generator(checkpoint)})", f"{np.mean(scores):.2f}",
                     f"{np.min(scores):.2f}", f"{noise_sensitivity(fp32, batches):.2f}"])
    return rows


def describe_generator(checkpoint: Path) -> str:
    loaded = load_checkpoint(checkpoint)
    spec = loaded.header["generators"][loaded.direction()]
    config = spec["config"]
    steps = loaded.header.get("trained", {}).get("steps", "?")
    shape = ", ".join(f"{k} {config[k]}" for k in ("ngf", "num_blocks", "channels", "global_skip") if k in config)
    return f"{spec['architecture']} {shape}; {steps} training steps"


def variant_table(fp32_path: Path, calibration: Path, scratch: Path, size: int, count: int,
                  batch_size: int) -> list[list[str]]:
    """Speed (× fp32, interleaved passes, best of 2) and held-out PSNR of each quantization variant."""
    files = write_photos(scratch / f"variant-photos{size}", TRAIN, size, min(count, 4))
    fp32 = load_backend(fp32_path)
    batches = batches_of(files, fp32.preprocess, batch_size)
    candidates = {label: load_backend(path) for label, path in variants(fp32_path, calibration, scratch).items()}
    best = {label: np.inf for label in ["fp32", *candidates]}
    for backend in [fp32, *candidates.values()]:
        backend.run(batches[0])
    for _ in range(2):
        best["fp32"] = min(best["fp32"], model_pass(fp32, batches))
        for label, backend in candidates.items():
            best[label] = min(best[label], model_pass(backend, batches))
    return [[label, f"{best['fp32'] / best[label]:.2f}×", f"{np.mean(fidelity(fp32, backend, batches)):.2f}"]
            for label, backend in candidates.items()]


def cpu_name() -> str:
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()} × {os.cpu_count()} CPUs"


def report(args, peak: float, *, speed_rows, e2e_rows, fidelity_rows, variant_rows, describe: str,
           minutes: float) -> list[str]:
    shown = [("NOTE" if previous == "--note" else arg) for previous, arg in zip(["", *sys.argv[1:]], sys.argv[1:])]
    command = shlex.join(["python", "benchmarks/translate_speed.py", *shown])
    lines = [
        "# Translation speed on CPU: torch eager, onnxruntime fp32 and int8",
        "",
        f"`{command}` — {datetime.date.today().isoformat()}, {minutes:.1f} min; {cpu_name()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}. "
        f"Machine fp32 matmul (torch, 2048³, best of 5): **{peak:.1f} GFLOP/s**. "
        f"{args.files} photos per size, batch size {args.batch_size}, best of {args.repeats} interleaved passes.",
        "",
        f"int8 file: {describe}.",
        "",
        "## Model throughput (pure `backend.run` on preloaded inputs)",
        "",
        "GFLOP/s = FLOPs of one forward (2 per multiply-accumulate) × images/s; for int8 the same "
        "multiply-accumulates run in integer arithmetic, which AVX2 does at up to twice the fp32 rate, so its "
        "share of the fp32 matmul peak can pass 100%.",
        "",
        *table(["size", "backend", "GFLOP/image", "images/s", "s/image", "GFLOP/s", "of matmul peak", "vs torch", "vs ORT fp32"],
               speed_rows),
        "",
        "## End to end: `i2i translate` on the folder (decode, model, encode, write) vs the pure model",
        "",
        *table(["size", "backend", "pure model images/s", "translate_files images/s", "end-to-end / pure"], e2e_rows),
        "",
        "## int8 fidelity (PSNR of int8 outputs vs fp32 outputs on the benchmark photos, held out from calibration)",
        "",
        *table(["size", "model", "mean PSNR (dB)", "min PSNR (dB)",
                "fp32 with N(0, (1/255)²) input noise vs fp32 (dB)"], fidelity_rows),
    ]
    if args.note:
        lines += ["", args.note]
    if variant_rows:
        lines += ["", f"## Quantization variants tried ({args.sizes[0]}², {min(args.files, 4)} photos, speed vs fp32)",
                  "", *table(["recipe", "speed vs fp32", "mean PSNR vs fp32 (dB)"], variant_rows)]
    return lines


if __name__ == "__main__":
    main()
