"""GPU check: what works on CUDA, in one script that finishes in under 5 minutes on one GPU.

    python benchmarks/gpu_check.py [--device cuda] [--steps 20] [--budget 280] [--out benchmarks/results/gpu_check.md]
    python benchmarks/gpu_check.py --device cpu      # smoke mode: tiny sizes, the same code paths and table

Prints one markdown table (and writes it to --out, with the command): a row per check, each `ok`,
`FAIL` (with the error) or `skipped: <why>`, and its time. The checks:

1. training — every method (pix2pix, cyclegan, srgan across its stage switch, munit, funit; the
   networks and sizes of benchmarks/train_speed.py) runs `Trainer.fit` for --steps steps in each of
   fp16 (autocast + GradScaler; CUDA only), bf16, channels_last, and bf16+channels_last+compile
   (inductor): finished, every logged loss finite, no step skipped, the final checkpoint loads;
2. resume — 2 steps, then `--resume` to 4, equals 4 uninterrupted steps weight for weight (pix2pix:
   BatchNorm and dropout, so the RNG states matter; CycleGAN: the image pool), with PyTorch's
   deterministic algorithms on (cuDNN's default kernels are not run-to-run deterministic);
3. torchrun — `torchrun --standalone` with NCCL initialises, all-reduces and shuts down (CUDA), and
   `torchrun -m i2i train` starts and stops (one process per GPU; gloo with 2 processes on the CPU);
4. translate — `i2i translate --device cuda --precision fp16` against fp32 on the released
   checkpoints (weights/), PSNR of the 8-bit outputs; on the CPU bf16 stands in;
5. onnxruntime CUDA — the exported graph through onnxruntime's CUDA provider against torch fp32, when
   that provider is installed (onnxruntime-gpu);
6. throughput — each method's paper generator, inference at batch 16, 256² outputs, bf16 autocast,
   channels-last: images/s and TFLOP/s as a share of the measured bf16 matmul rate (and of the
   datasheet peak for known GPUs).

Smoke mode (`--device cpu`): the same checks with tiny networks and images and 2 steps; CUDA-only rows
say `skipped: no CUDA`. --budget: checks that would start after that many seconds are skipped (so the
table always prints).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from train_speed import CONFIGS, FlopCount, case_recipe, matmul_rate, write_data  # noqa: E402

from i2i.checkpoint import load_checkpoint, load_state  # noqa: E402
from i2i.config import override  # noqa: E402
from i2i.methods import method_class  # noqa: E402
from i2i.train.trainer import Trainer  # noqa: E402

METHOD_CASES = ("pix2pix", "cyclegan", "srgan", "munit", "funit")
TRAIN_CONFIGS = ("fp16", "bf16", "channels_last", "bf16+channels_last+compile")
# Dense bf16 tensor-core peaks from the datasheets (TFLOP/s, without sparsity), by name fragment.
DATASHEET_BF16 = {"H200": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0,
                  "L40S": 362.0, "A10": 125.0, "L4": 121.0, "RTX 4090": 165.2}
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
QUIET = Console(stderr=True, quiet=True)  # the trainers' progress lines would drown the table


@dataclass
class Check:
    group: str
    name: str
    status: str
    detail: str
    seconds: float


class Checks:
    """Runs checks one after another, printing each row as it finishes; keeps the time budget."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.rows, self.started = args, [], time.perf_counter()
        self.cuda = args.device == "cuda"

    def run(self, group: str, name: str, check: Callable[[], str], cuda_only: bool = False,
            skip: str | None = None) -> None:
        started = time.perf_counter()
        if skip is None and cuda_only and not self.cuda:
            skip = "no CUDA"
        if skip is None and started - self.started > self.args.budget:
            skip = f"time budget ({self.args.budget:g} s) spent"
        if skip is not None:
            status, detail = f"skipped: {skip}", ""
        else:
            try:
                status, detail = "ok", check()
            except CheckFailed as failure:
                status, detail = "FAIL", str(failure)
            except Exception as error:  # noqa: BLE001 - a check that crashes is a failed check, and the others still run
                status, detail = "FAIL", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                traceback.print_exc()
        row = Check(group, name, status, detail.replace("|", "/"), time.perf_counter() - started)
        self.rows.append(row)
        print(f"| {row.group} | {row.name} | {row.status} | {row.detail} | {row.seconds:.1f} |", flush=True)


class CheckFailed(Exception):
    """A check ran and found something wrong (its message is the row's detail)."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# -- 1. training ---------------------------------------------------------------------------------------
def train_recipe(case: str, config: str, args: argparse.Namespace, scratch: Path, steps: int) -> Any:
    recipe = case_recipe(case, args.smoke, args.device, scratch)
    values = {**CONFIGS[config], "steps": steps,
              "log": {"log_every": 1, "sample_every": steps, "checkpoint_every": 10**9}}
    if values.get("compile"):
        values["compile_backend"] = args.compile_backend
    return override(recipe, values)


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def train_check(case: str, config: str, args: argparse.Namespace, scratch: Path) -> str:
    """fit() for --steps steps; every loss finite, nothing skipped, the checkpoint loads."""
    run = scratch / f"train-{case}-{config}"
    recipe = train_recipe(case, config, args, scratch, args.steps)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    graphs_before = _compiled_graphs()
    trainer = Trainer(method_class(recipe.method)(recipe), run, console=QUIET)
    finished = trainer.fit()
    rows = metrics(run)
    require(finished and len(rows) == args.steps, f"stopped after {len(rows)} of {args.steps} steps")
    bad = [(r["step"], k) for r in rows for k, v in r.items() if k.startswith(("G/", "D/")) and v
           and not math.isfinite(float(v))]
    require(not bad, f"non-finite losses at (step, term) {bad[:3]}")
    skipped = sum(1 for r in rows if r.get("skipped"))
    require(skipped == 0, f"{skipped} steps skipped for non-finite losses")
    load_checkpoint(run)  # the final checkpoint reads back
    times = [float(r["time"]) for r in rows]  # seconds of training at each step's end
    steps = np.diff(times)
    per_step = statistics.median(steps[len(steps) // 2:]) if len(steps) else times[0]
    detail = f"{per_step:.3f} s/step (median of the 2nd half), first step {times[0]:.1f} s"
    if config.startswith("fp16"):
        detail += f", GradScaler scale {trainer.scaler_g.get_scale():g}"
    if "compile" in config:
        detail += f", {_compiled_graphs() - graphs_before} graphs compiled"
    if torch.cuda.is_available():
        detail += f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    if case == "srgan":
        detail += f", stages 1+2 (switch at step {trainer.method.switch_step})"
    shutil.rmtree(run, ignore_errors=True)  # a paper-size run with its resume state is hundreds of MB
    return detail


def _compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# -- 2. resume -----------------------------------------------------------------------------------------
def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = load_state(run / "state.pt")["method"]
    return {k: v for k, v in state.items() if k.startswith(("generators.", "discriminators."))}


def _fit(recipe: Any, run: Path, resume: bool) -> None:
    trainer = Trainer(method_class(recipe.method)(recipe), run, console=QUIET)
    if resume:
        trainer.resume()
    trainer.fit()


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def resume_check(case: str, args: argparse.Namespace, scratch: Path) -> str:
    """2 steps + resume to 4 against 4 straight steps, twice straight to tell resume errors from kernels
    that are not run-to-run deterministic (PyTorch's deterministic algorithms on while it runs; ops
    without a deterministic CUDA kernel, such as reflection padding's backward, only warn)."""
    # Constant LR: a 2-step run is then the first half of the 4-step one (the schedule spans `steps`).
    recipe = override(train_recipe(case, "eager", args, scratch, 4), {
        "schedule": {"decay_start": 1.0}, "log": {"checkpoint_every": 2, "sample_every": 10**9}})
    if not args.smoke:  # paper widths, small images: what matters is the state, not the size
        recipe = override(recipe, {"image_size": 64} if case == "cyclegan" else {"image_size": 64,
                                                                                 "generator": {"num_downs": 6}})
    deterministic = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    runs = {name: scratch / f"resume-{case}-{name}" for name in ("straight", "again", "split")}
    try:
        _fit(recipe, runs["straight"], False)
        _fit(recipe, runs["again"], False)
        _fit(override(recipe, {"steps": 2}), runs["split"], False)
        _fit(recipe, runs["split"], True)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    weights = {name: _weights(run) for name, run in runs.items()}
    straight, again, split = weights["straight"], weights["again"], weights["split"]
    noise = _max_difference(straight, again)
    equal = all(torch.equal(straight[k], split[k]) for k in straight)
    require(equal, f"resumed weights differ from the uninterrupted run by up to {_max_difference(straight, split):.2e}"
                   f"; two uninterrupted runs differ by {noise:.2e}" + (" (kernels not deterministic)" if noise else ""))
    again_text = "equal too" if not noise else f"differ by {noise:.1e}"
    return (f"{len(straight)} weight tensors equal bit for bit after 2 + 2 steps vs 4 ({recipe.image_size} px); "
            f"two uninterrupted runs {again_text}")


# -- 3. torchrun ---------------------------------------------------------------------------------------
def nccl_probe() -> None:
    """Run under torchrun: NCCL process group, one all-reduce, barrier, shut down."""
    import torch.distributed as dist

    rank = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl")
    value = torch.ones(1, device="cuda") * (dist.get_rank() + 1)
    dist.all_reduce(value)
    dist.barrier()
    world = dist.get_world_size()
    dist.destroy_process_group()
    expected = world * (world + 1) / 2
    print(f"nccl ok: world {world}, all_reduce {value.item():g} (expected {expected:g})")
    sys.exit(0 if value.item() == expected else 1)


def _torchrun(nproc: int, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
                            env={**ENV, "OMP_NUM_THREADS": "1"})
    tail = (result.stdout + result.stderr).strip().splitlines()
    require(result.returncode == 0, f"exit {result.returncode}: {tail[-1] if tail else ''}")
    return result


def nccl_check() -> str:
    nproc = torch.cuda.device_count()
    result = _torchrun(nproc, str(Path(__file__).resolve()), "--nccl-probe", timeout=120)
    return next(line for line in result.stdout.splitlines() if line.startswith("nccl ok"))


def torchrun_train_check(args: argparse.Namespace, scratch: Path) -> str:
    """`torchrun -m i2i train cyclegan` for 2 steps: starts, trains, saves, exits 0."""
    nproc = torch.cuda.device_count() if args.device == "cuda" else 2
    data = scratch / "torchrun-data"
    write_data("cyclegan", data, 16, 2 * nproc)
    run = scratch / "torchrun-cyclegan"
    _torchrun(nproc, "-m", "i2i", "train", "cyclegan", "--data", str(data), "--domains", "a", "b",
              "--out", str(run), "--steps", "2", "--batch-size", str(2 * nproc), "--image-size", "16",
              "--device", args.device, "--set", "generator.ngf=4", "--set", "generator.num_blocks=1",
              "--set", "discriminator.ndf=4", "--set", "discriminator.n_layers=2", "--set", "data.load_size=16",
              "--set", "log.sample_every=100", "--set", "log.tensorboard=false")
    require(load_checkpoint(run).header["trained"]["steps"] == 2, "the checkpoint does not record 2 steps")
    backend = ("NCCL" if nproc > 1 else "1 GPU: one process, no process group") if args.device == "cuda" else "gloo"
    return f"{nproc} process(es), {backend}; 2 steps, checkpoint written, exit 0"


# -- 4./5. translate ---------------------------------------------------------------------------------------
def _i2i(*args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "i2i", *args], capture_output=True, text=True, cwd=ROOT, env=ENV,
                            check=False,
                            timeout=300)
    tail = (result.stdout + result.stderr).strip().splitlines()
    require(result.returncode == 0, f"i2i {args[0]} exit {result.returncode}: {tail[-1] if tail else ''}")
    return time.perf_counter() - started


def test_inputs(scratch: Path, count: int) -> Path:
    """`count` held-out drawings of the shapes demo set (what weights/pix2pix-shapes translates)."""
    from i2i.data.demo.shapes import make_shapes

    make_shapes(scratch / "shapes", num_train=0, num_test=count)
    return scratch / "shapes" / "test" / "A"


def psnr_folders(a: Path, b: Path) -> list[float]:
    from PIL import Image

    values = []
    for path in sorted(a.glob("*.png")):
        x = np.asarray(Image.open(path), np.float64) / 255
        y = np.asarray(Image.open(b / path.name), np.float64) / 255
        mse = float(np.mean((x - y) ** 2))
        values.append(math.inf if mse == 0 else 10 * math.log10(1 / mse))
    require(bool(values), f"no outputs in {a}")
    return values


def translate_check(model: Path, inputs: Path, scratch: Path, device: str, precision: str, backend: str = "torch",
                    threshold: float = 35.0) -> str:
    """Outputs of `precision` (or `backend`) against fp32 torch, PSNR on the 8-bit files."""
    reference = scratch / f"translate-{model.stem}-fp32"
    if not reference.exists():
        _i2i("translate", str(model), str(inputs), "--out", str(reference), "--device", device, "--precision", "fp32")
    out = scratch / f"translate-{model.stem}-{precision}-{backend}"
    extra = ["--precision", precision] if backend == "torch" else ["--backend", "onnx"]
    seconds = _i2i("translate", str(model), str(inputs), "--out", str(out), "--device", device, *extra)
    values = psnr_folders(reference, out)
    finite = [v for v in values if math.isfinite(v)]
    worst = min(values)
    require(worst >= threshold, f"PSNR vs fp32 min {worst:.1f} dB < {threshold:g} dB")
    mean = statistics.mean(finite) if finite else math.inf
    return (f"{len(values)} images: PSNR vs fp32 mean {mean:.1f} dB, min {worst:.1f} dB "
            f"({len(values) - len(finite)} identical); {seconds:.1f} s incl. start-up")


def onnx_cuda_check(model: Path, inputs: Path, scratch: Path) -> str:
    onnx_file = scratch / f"{model.stem}.onnx"
    _i2i("export", str(model), "--out", str(onnx_file))
    return translate_check(onnx_file, inputs, scratch, "cuda", "fp32", backend="onnx")


def onnx_cuda_skip(cuda: bool) -> str | None:
    if not cuda:
        return "no CUDA"
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return (f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider here "
                f"({', '.join(onnxruntime.get_available_providers())}; needs onnxruntime-gpu)")
    return None


# -- 6. throughput --------------------------------------------------------------------------------------
def paper_generators(side: int) -> dict[str, Callable[[], tuple[torch.nn.Module, Callable[[int, int], tuple]]]]:
    """name → builder of (paper generator, inputs(batch, output side)) for inference; the U-Net as deep as
    `side` allows, at most 8 levels (unet_256), as pix2pix builds it. Builders, as the MUNIT and FUNIT
    generators take a while to initialise."""
    from i2i.models import (
        FUNITConfig,
        FUNITGenerator,
        MUNITConfig,
        MUNITGenerator,
        ResNetConfig,
        ResNetGenerator,
        SRResNet,
        SRResNetConfig,
        UNetConfig,
        UNetGenerator,
    )

    def image(batch: int, size: int) -> tuple:
        return (torch.rand(batch, 3, size, size) * 2 - 1,)

    def munit() -> tuple:
        network = MUNITGenerator(MUNITConfig())
        return network, lambda b, s: (*image(b, s), torch.randn(b, network.config.style_dim))

    def funit() -> tuple:
        network = FUNITGenerator(FUNITConfig())
        return network, lambda b, s: (*image(b, s), torch.randn(1, network.config.class_dim))

    return {
        "pix2pix U-Net-256": lambda: (UNetGenerator(UNetConfig(num_downs=min(8, side.bit_length() - 1))), image),
        "cyclegan ResNet-9": lambda: (ResNetGenerator(ResNetConfig()), image),
        "srgan SRResNet ×4 (input ¼ side)": lambda: (SRResNet(SRResNetConfig(scale=4)), lambda b, s: image(b, s // 4)),
        "munit (content + random style)": munit,
        "funit (content + class code)": funit,
    }


def _timed(work: Callable[[], Any], device: torch.device, repeats: int) -> float:
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def throughput_check(name: str, args: argparse.Namespace, peak_tflops: float, datasheet: float | None) -> str:
    batch, side = (16, 256) if not args.smoke else (1, 32)
    network, inputs = paper_generators(side)[name]()
    device = torch.device(args.device)
    network = network.to(device, memory_format=torch.channels_last).eval()
    tensors = tuple(t.to(device) for t in inputs(batch, side))
    tensors = tuple(t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in tensors)

    def forward() -> Any:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            return network(*tensors)

    # Counted under no_grad (the same operations): a dispatch mode sees nothing under inference_mode.
    with FlopCount() as counter, torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        network(*tensors)
    seconds = _timed(forward, device, 10 if device.type == "cuda" else 1)
    tflops = counter.total / seconds / 1e12
    share = f"{100 * tflops / peak_tflops:.1f}% of the measured bf16 matmul rate {peak_tflops:.3g} TFLOP/s"
    if datasheet:
        share += f", {100 * tflops / datasheet:.1f}% of the datasheet's {datasheet:g}"
    return (f"batch {batch}, {side}² out: {batch / seconds:.1f} images/s, {counter.total / batch / 1e9:.1f} GFLOP/image, "
            f"{tflops:.3g} TFLOP/s = {share}")


def datasheet_peak() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in DATASHEET_BF16.items() if key in name), None)


# -- the run ---------------------------------------------------------------------------------------
GROUPS = ("train", "resume", "torchrun", "translate", "onnxruntime", "throughput")


def training_checks(checks: Checks, args: argparse.Namespace, scratch: Path, compiled: bool) -> None:
    """The training rows without compile (`compiled` False) or with it: those go last, being the slowest
    to start (inductor compiles every network's forward and backward)."""
    for case in args.methods:
        for config in [c for c in TRAIN_CONFIGS if ("compile" in c) == compiled]:
            checks.run("train", f"{case} {config}", lambda c=case, k=config: train_check(c, k, args, scratch),
                       cuda_only=config.startswith("fp16"))


def resume_checks(checks: Checks, args: argparse.Namespace, scratch: Path) -> None:
    for case in [c for c in ("pix2pix", "cyclegan") if c in args.methods]:
        checks.run("resume", f"{case} on {args.device}", lambda c=case: resume_check(c, args, scratch))


def torchrun_checks(checks: Checks, args: argparse.Namespace, scratch: Path) -> None:
    checks.run("torchrun", "NCCL process group", nccl_check, cuda_only=True)
    checks.run("torchrun", f"-m i2i train ({'NCCL' if checks.cuda else 'gloo'})",
               lambda: torchrun_train_check(args, scratch))


def translate_checks(checks: Checks, args: argparse.Namespace, scratch: Path) -> None:
    """fp16 (CUDA) and bf16 against fp32 on the released checkpoints; onnxruntime's CUDA provider."""
    inputs = test_inputs(scratch, 4 if args.smoke else 16)
    models = [ROOT / "weights" / "pix2pix-shapes.safetensors", ROOT / "weights" / "cyclegan-stripes.safetensors"]
    for model in models[:1] if args.smoke else models:
        if "translate" in args.groups:
            checks.run("translate", f"{model.stem} fp16 vs fp32 (cuda)",
                       lambda m=model: translate_check(m, inputs, scratch, "cuda", "fp16"), cuda_only=True)
            checks.run("translate", f"{model.stem} bf16 vs fp32 ({args.device})",
                       lambda m=model: translate_check(m, inputs, scratch, args.device, "bf16", threshold=25.0))
    if "onnxruntime" in args.groups:
        checks.run("onnxruntime", f"{models[0].stem} CUDA provider vs torch fp32",
                   lambda: onnx_cuda_check(models[0], inputs, scratch), skip=onnx_cuda_skip(checks.cuda))


def throughput_checks(checks: Checks, args: argparse.Namespace, scratch: Path) -> None:
    device = torch.device(args.device)
    peak = matmul_rate(device, torch.bfloat16, n=8192 if checks.cuda else 1024) / 1e3
    for name in paper_generators(256):
        checks.run("throughput", name, lambda n=name: throughput_check(n, args, peak, datasheet_peak()))


def run_all(args: argparse.Namespace, scratch: Path) -> Checks:
    checks = Checks(args)
    steps = [("train", partial(training_checks, compiled=False)), ("resume", resume_checks),
             ("torchrun", torchrun_checks), ("translate", translate_checks), ("throughput", throughput_checks),
             ("train", partial(training_checks, compiled=True))]
    for group, run in steps:
        if group in args.groups or (group == "translate" and "onnxruntime" in args.groups):
            run(checks, args, scratch)
    return checks


def report(args: argparse.Namespace, checks: Checks, minutes: float) -> list[str]:
    command = shlex.join(["python", "benchmarks/gpu_check.py",
                          *[a for a in sys.argv[1:] if a != "--out" and not a.endswith(".md")]])
    device = torch.cuda.get_device_name() if checks.cuda else f"CPU ({torch.backends.cpu.get_cpu_capability()})"
    counts = {s: sum(1 for r in checks.rows if r.status.startswith(s)) for s in ("ok", "FAIL", "skipped")}
    lines = [
        "# GPU check" + (" (CPU smoke mode)" if not checks.cuda else ""),
        "",
        (f"`{command}` — {datetime.date.today().isoformat()}, {minutes:.1f} min; {device}, torch {torch.__version__}"
         f"{', CUDA ' + str(torch.version.cuda) if checks.cuda else ''}; {args.steps} training steps per row"
         f"{'; tiny networks and images (smoke mode)' if args.smoke else ''}."),
        "",
        f"{counts['ok']} ok, {counts['FAIL']} failed, {counts['skipped']} skipped.",
        "",
        "| group | check | result | detail | s |",
        "|---|---|---|---|---|",
        *(f"| {r.group} | {r.name} | {r.status} | {r.detail} | {r.seconds:.1f} |" for r in checks.rows),
    ]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=None, help="training steps per row (default 20; 2 on the CPU)")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_CASES), choices=list(METHOD_CASES))
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS), help="which checks")
    parser.add_argument("--budget", type=float, default=280.0, help="seconds after which checks are skipped")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--nccl-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.smoke = args.device == "cpu"
    args.steps = args.steps or (2 if args.smoke else 20)
    name = "gpu_check_cpu.md" if args.smoke else "gpu_check.md"
    args.out = args.out or ROOT / "benchmarks" / "results" / name
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.nccl_probe:
        nccl_probe()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    print("| group | check | result | detail | s |\n|---|---|---|---|---|", flush=True)
    checks = run_all(args, scratch)
    lines = report(args, checks, (time.perf_counter() - started) / 60)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if any(r.status == "FAIL" for r in checks.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
