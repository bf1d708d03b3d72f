"""Training speed: seconds per step of each method at its paper networks, per execution configuration.

    python benchmarks/train_speed.py [--device cpu|cuda] [--methods cyclegan pix2pix ...]
        [--configs eager channels_last compile bf16 ...] [--steps 5] [--warmup 2] [--quiet-wait 60] [--no-memory]
        [--compile-backend inductor] [--smoke] [--out benchmarks/results/train_speed.md]

What is timed: `Trainer.train_step` — the one training step every run takes (generator losses,
backward, G step, discriminator losses through the image pools, backward, D step, schedules, the
logged row) — on batches loaded before the clock starts (data loading is not timed: it runs in
worker processes in a real run). Every method at its paper networks and batch:

- cyclegan: ResNet-9 (ngf 64) + 70×70 PatchGAN (n_layers 3, InstanceNorm), 128 px, batch 1, identity
  loss on (the reference's defaults);
- pix2pix: U-Net-256 (8 levels, ngf 64) + 70×70 PatchGAN (BatchNorm), 256 px, batch 1;
- srresnet / srgan: SRResNet ×4 (16 blocks, 64 channels) on 96 px HR crops, batch 16; stage 1 (MSE)
  and stage 2 (VGG19 φ5,4 content loss + the SRGAN discriminator; random VGG19 weights written here:
  speed does not depend on them);
- munit / funit: their CPU demo recipes (recipes/munit-styles.toml, recipes/funit-classes.toml: 32 px,
  batch 4 / 8), the sizes their demos train at.

Configurations (recipe fields): eager (the defaults), channels_last, compile (torch.compile with
--compile-backend, in a fresh inductor cache: its first step includes the whole compilation, reported
apart), precision bf16 (autocast; on the CPU too) and, on CUDA, fp16 (with GradScaler) and combinations
such as bf16+channels_last+compile. All configurations of one method start from the same weights, RNG
state and batches and take their steps interleaved (round-robin), so the load of a shared machine falls
on all alike; the table gives the median of --steps steps after --warmup steps. On the CPU each step
first waits (up to --quiet-wait s) until other processes leave the CPUs alone, and a step during which
they took more than 10% of them is not counted (up to 2 × --steps extra rounds replace such steps): on
a shared 2-core machine one busy neighbour slows a 2-thread step 5–20×.

For CycleGAN a `reference-style` contender re-implements the reference implementation's
`optimize_parameters` (junyanz/pytorch-CycleGAN-and-pix2pix: forward of both cycles, backward_G with
the discriminators frozen, optimizer_G.step, then backward_D_A and backward_D_B as separate passes,
optimizer_D.step; ResnetGenerator 9 blocks, NLayerDiscriminator 3 layers, InstanceNorm, LSGAN via
MSELoss, λ 10, identity 0.5, ImagePool 50, Adam 2e-4 β 0.5) — written here, not their code — started
from the same weights as i2i's networks.

Also reported: FLOPs of one step (torch.utils.flop_counter: forward and backward, 2 per
multiply-accumulate) and the achieved rate beside this machine's matmul rate (fp32 and bf16), the
change of the first step's losses against eager (float rounding of the same maths; later steps drift
further: Adam's first update is ±lr for every weight whatever the size of its gradient, so rounding-level
differences in near-zero gradients become full-size steps), and peak memory of a process that builds
the trainer and takes 2 steps (peak RSS; on CUDA also torch.cuda.max_memory_allocated), measured in
one subprocess per configuration (--no-memory skips it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402

from i2i.config import load_preset, override  # noqa: E402
from i2i.images import write_image  # noqa: E402
from i2i.methods import method_class  # noqa: E402
from i2i.train.trainer import Trainer  # noqa: E402

# -- the methods at their paper networks (and tiny ones for --smoke) -----------------------------------
# case → (method, recipe values at paper size, recipe values in smoke mode, what the row says)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], str]] = {
    "cyclegan": ("cyclegan", {"image_size": 128, "batch_size": 1},
                 {"image_size": 16, "generator": {"ngf": 4, "num_blocks": 1}, "discriminator": {"ndf": 4, "n_layers": 2},
                  "pool_size": 2},
                 "ResNet-9 ngf 64 + PatchGAN 70×70 (instance), 128 px, batch 1"),
    "pix2pix": ("pix2pix", {"image_size": 256, "batch_size": 1},
                {"image_size": 32, "generator": {"num_downs": 5, "ngf": 4}, "discriminator": {"ndf": 4, "n_layers": 2}},
                "U-Net-256 ngf 64 + PatchGAN 70×70 (batch norm), 256 px, batch 1"),
    "srresnet": ("srgan", {"stage": "srresnet"},
                 {"stage": "srresnet", "image_size": 32, "batch_size": 2,
                  "srresnet": {"num_blocks": 2, "channels": 16}},
                 "SRResNet ×4 16 blocks, 96 px HR crops, batch 16, stage 1 (MSE)"),
    "srgan": ("srgan", {"stage": "both", "switch_at": 0.5},
              {"stage": "both", "switch_at": 0.5, "image_size": 32, "batch_size": 2,
               "srresnet": {"num_blocks": 2, "channels": 16}, "perceptual": {"layer": "relu2_2"}},
              "SRResNet ×4 + SRGAN D + VGG19 φ5,4, 96 px, batch 16, stage 2"),
    "munit": ("munit", {"preset": "recipes/munit-styles.toml"},
              {"preset": "recipes/munit-styles.toml", "image_size": 16, "batch_size": 2,
               "generator": {"dim": 4, "mlp_dim": 8, "content_res_blocks": 1},
               "discriminator": {"dim": 4, "n_layers": 2, "num_scales": 2}},
              "demo recipe (munit-styles): 32 px, batch 4, dim 32"),
    "funit": ("funit", {"preset": "recipes/funit-classes.toml"},
              {"preset": "recipes/funit-classes.toml", "image_size": 16, "batch_size": 3,
               "generator": {"dim": 4, "mlp_dim": 8, "class_dim": 6, "content_downsample": 2, "content_res_blocks": 1},
               "discriminator": {"dim": 4, "res_blocks": 4}},
              "demo recipe (funit-classes): 32 px, batch 8, dim 32"),
}

# configuration name → recipe fields it sets (compile_backend is added from --compile-backend)
CONFIGS: dict[str, dict[str, Any]] = {
    "eager": {},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
    "fp16": {"precision": "fp16"},
    "bf16+channels_last": {"precision": "bf16", "channels_last": True},
    "bf16+compile": {"precision": "bf16", "compile": True},
    "bf16+channels_last+compile": {"precision": "bf16", "channels_last": True, "compile": True},
    "fp16+channels_last+compile": {"precision": "fp16", "channels_last": True, "compile": True},
}
DEFAULT_CONFIGS = {"cpu": ["eager", "channels_last", "compile", "bf16"],
                   "cuda": ["eager", "channels_last", "compile", "bf16", "fp16", "bf16+channels_last+compile"]}
REFERENCE = "reference-style"
CONTENDED = 0.10  # a step during which other processes used more than this share of the CPUs is not counted
# Seconds a CPU step may wait for the other processes to go quiet (then it runs regardless; --quiet-wait,
# 0 in smoke mode), and the seconds spent waiting so far, for the report.
WAIT = {"limit": 60.0, "waited": 0.0}
LOSS_KEYS = ("G/", "D/")


# -- data: a few images of the right kind and size, written once per case ----------------------------
def _images(folder: Path, count: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for index in range(count):
        write_image(folder / f"x{index:02d}.png", rng.random((size, size, 3)).astype(np.float32))


def write_data(kind: str, root: Path, size: int, batch: int) -> dict[str, Any]:
    """Training images for method `kind`; returns the recipe's `data` values."""
    if kind == "pix2pix":
        _images(root / "train" / "A", 2, size, 0)
        _images(root / "train" / "B", 2, size, 0)
        return {"root": str(root), "load_size": size}
    if kind in ("cyclegan", "munit"):
        names = ["outline", "painted"] if kind == "munit" else ["a", "b"]
        for seed, name in enumerate(names):
            _images(root / name, max(2, batch), size, seed)
        return {"root": str(root), "domains": names, "load_size": size}
    if kind == "srgan":
        _images(root / "train", batch, size, 0)
        return {"root": str(root)}
    for index in range(12 if size >= 32 else 3):  # funit: class folders (the demo has 12 training classes)
        _images(root / "train" / f"class{index:02d}", max(2, batch), size, index)
    return {"root": str(root), "load_size": size}


def vgg_weights(scratch: Path) -> Path:
    """torchvision's VGG19 `features` state dict with random values (nothing downloads here)."""
    import torchvision

    path = scratch / "vgg19_features.pth"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(torchvision.models.vgg19(weights=None).features.state_dict(), path)
    return path


def case_recipe(case: str, smoke: bool, device: str, scratch: Path) -> Any:
    """The recipe of `case` (paper size, or tiny with --smoke), with its data written under `scratch`."""
    kind, paper, tiny, _ = CASES[case]
    values = dict(tiny if smoke else paper)
    preset = values.pop("preset", None)
    recipe = method_class(kind).Recipe()
    if preset:
        recipe = override(recipe, {k: v for k, v in load_preset(ROOT / preset).items() if k != "method"})
    recipe = override(recipe, values)
    size, batch = recipe.image_size, recipe.batch_size
    data = write_data(kind, scratch / f"data-{case}-{size}", size, batch)
    if kind == "munit":
        data.pop("domains")  # the preset names them
    changes: dict[str, Any] = {"device": device, "steps": 1000, "data": data,
                               "log": {"tensorboard": False, "sample_every": 10**9, "checkpoint_every": 10**9}}
    if case == "srgan":
        changes["perceptual"] = {"weights": str(vgg_weights(scratch))}
    return override(recipe, changes)


# -- contenders ---------------------------------------------------------------------------------------
@dataclass
class Contender:
    """One way of taking a training step, with its own RNG state (restored around each of its steps, so
    that interleaving contenders does not change what each one draws)."""

    name: str
    step: Callable[[int], dict[str, float]]
    rng: dict[str, Any]
    times: list[float] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # share of the CPUs other processes used during each step

    def clean_times(self, warmup: int) -> list[float]:
        """Times of the steps after warm-up during which other processes left the CPUs alone (all of them
        if fewer than 3 such steps were seen)."""
        pairs = list(zip(self.times[warmup:], self.others[warmup:], strict=True))
        clean = [t for t, other in pairs if other <= CONTENDED]
        return clean if len(clean) >= 3 else [t for t, _ in pairs]


def rng_state(seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    random.seed(seed)
    state = {"torch": torch.get_rng_state(), "random": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _swap_rng(state: dict[str, Any]) -> dict[str, Any]:
    """Install `state` and return the one it replaced."""
    old = {"torch": torch.get_rng_state(), "random": random.getstate()}
    torch.set_rng_state(state["torch"])
    random.setstate(state["random"])
    if "cuda" in state:
        old["cuda"] = torch.cuda.get_rng_state_all()
        torch.cuda.set_rng_state_all(state["cuda"])
    return old


def build_trainer(recipe: Any, config: str, backend: str, run_dir: Path) -> Trainer:
    values = dict(CONFIGS[config])
    if values.get("compile"):
        values["compile_backend"] = backend
    recipe = override(recipe, values)
    trainer = Trainer(method_class(recipe.method)(recipe), run_dir)
    if recipe.method == "srgan" and recipe.stage == "both":
        trainer.step = trainer.method.switch_step  # time stage 2: the SRGAN step proper
    return trainer


def prefetch(trainer: Trainer, count: int) -> list[dict[str, Tensor]]:
    """`count` batches as `Trainer.fit` hands them to `train_step` (device, memory format)."""
    batches = []
    for batch in trainer._loader():
        batches.append({k: v.to(trainer.device, memory_format=trainer.memory_format if v.ndim == 4
                                else torch.preserve_format)
                        for k, v in batch.items() if isinstance(v, Tensor)})
        if len(batches) == count:
            break
    return batches


def trainer_contender(name: str, trainer: Trainer, batches: list[dict[str, Tensor]], seed: int) -> Contender:
    def step(index: int) -> dict[str, float]:
        row = trainer.train_step(batches[index % len(batches)])
        trainer.step += 1
        return row

    return Contender(name, step, rng_state(seed))


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds used by every process on this machine, CPU seconds used by this one), from /proc/stat
    (busy = all but idle and iowait; steal counts: another VM had the core) and os.times."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0
    busy = sum(fields) - fields[3] - fields[4]
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def others_share(window: float = 0.5) -> float:
    """Share of the CPUs that other processes use, measured over `window` seconds."""
    busy, own = cpu_seconds()
    time.sleep(window)
    busy_after, own_after = cpu_seconds()
    return max(0.0, (busy_after - busy) - (own_after - own)) / (window * (os.cpu_count() or 1))


def wait_for_quiet(limit: float) -> None:
    """Wait (at most `limit` s) until other processes leave the CPUs alone: on a shared 2-core machine one
    busy neighbour slows a 2-thread step several times over, and such a step is not counted anyway."""
    started = time.monotonic()
    while time.monotonic() < started + limit and others_share() > CONTENDED:
        pass
    WAIT["waited"] += time.monotonic() - started


def timed_step(contender: Contender, index: int, device: torch.device) -> None:
    """One step of `contender` in its own RNG state: wall time (CUDA: synchronised), the logged row and
    how much of the CPUs other processes took meanwhile."""
    if device.type == "cpu":
        wait_for_quiet(WAIT["limit"])
    outer = _swap_rng(contender.rng)
    if device.type == "cuda":
        torch.cuda.synchronize()
    busy, own = cpu_seconds()
    started = time.perf_counter()
    row = contender.step(index)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    busy_after, own_after = cpu_seconds()
    contender.times.append(wall)
    contender.rows.append(row)
    contender.others.append(max(0.0, (busy_after - busy) - (own_after - own)) / (wall * (os.cpu_count() or 1)))
    contender.rng = _swap_rng(outer)


def run_rounds(contenders: list[Contender], rounds: int, device: torch.device, warmup: int = 0,
               extra: int = 0) -> None:
    """Each contender takes one step per round, in turn. Up to `extra` more rounds while some contender
    has fewer than `rounds - warmup` steps without contention (a shared machine's other jobs)."""
    wanted = rounds - warmup
    for index in range(rounds + extra):
        if index >= rounds and all(sum(o <= CONTENDED for o in c.others[warmup:]) >= wanted for c in contenders):
            break
        for contender in contenders:
            timed_step(contender, index, device)
        print(f"  round {index + 1}: " + ", ".join(f"{c.name} {c.times[-1]:.3f} s ({100 * c.others[-1]:.0f}% others)"
                                                for c in contenders), flush=True)


# -- the reference implementation's CycleGAN step, re-implemented ------------------------------------
class RefResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


def ref_resnet_generator(nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> nn.Module:
    """ResnetGenerator(norm_layer=InstanceNorm2d(affine=False), use_dropout=False): InstanceNorm, so
    every conv keeps its bias (use_bias), reflect padding in the blocks, transposed-conv upsampling."""
    model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(nc, ngf, 7, bias=True), nn.InstanceNorm2d(ngf),
                              nn.ReLU(True)]
    for mult in (1, 2):
        model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                  nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
    model += [RefResnetBlock(ngf * 4) for _ in range(n_blocks)]
    for mult in (4, 2):
        model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                  nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
    model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, nc, 7), nn.Tanh()]
    return nn.Sequential(*model)


def ref_nlayer_discriminator(nc: int = 3, ndf: int = 64, n_layers: int = 3) -> nn.Module:
    """NLayerDiscriminator with InstanceNorm (use_bias True): C64-C128-C256-C512 and a 1-channel conv, 4×4."""
    sequence: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2**n, 8)
        sequence += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1, bias=True),
                     nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    sequence += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    return nn.Sequential(*sequence)


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Same layers in the same order: copy parameter by parameter (shapes checked)."""
    pairs = list(zip(source.parameters(), target.parameters(), strict=True))
    with torch.no_grad():
        for a, b in pairs:
            assert a.shape == b.shape, (a.shape, b.shape)
            b.copy_(a)


class RefImagePool:
    """util/image_pool.py: Python's `random` decides, as there."""

    def __init__(self, pool_size: int = 50) -> None:
        self.pool_size, self.images = pool_size, []

    def query(self, images: Tensor) -> Tensor:
        out = []
        for image in images:
            image = image.detach().unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                slot = random.randint(0, self.pool_size - 1)
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class ReferenceCycleGAN:
    """CycleGANModel.optimize_parameters with the reference's defaults (lambda_A = lambda_B = 10,
    lambda_identity 0.5, gan_mode lsgan, pool 50, Adam lr 2e-4 β (0.5, 0.999))."""

    def __init__(self, trainer: Trainer, device: torch.device) -> None:
        config = trainer.method.recipe.generator
        dconfig = trainer.method.recipe.discriminator
        self.G_A, self.G_B = (ref_resnet_generator(3, config.ngf, config.num_blocks).to(device) for _ in range(2))
        self.D_A, self.D_B = (ref_nlayer_discriminator(3, dconfig.ndf, dconfig.n_layers).to(device) for _ in range(2))
        gens, discs = trainer.method.generators, trainer.method.discriminators
        # Code (paper): G_A (G: A→B), G_B (F: B→A), D_A judges B (D_Y), D_B judges A (D_X).
        for mine, theirs in ((gens["gen_a2b"], self.G_A), (gens["gen_b2a"], self.G_B),
                             (discs["disc_b"], self.D_A), (discs["disc_a"], self.D_B)):
            copy_weights(mine, theirs)
        self.pool_A, self.pool_B = RefImagePool(50), RefImagePool(50)
        params_g = [*self.G_A.parameters(), *self.G_B.parameters()]
        params_d = [*self.D_A.parameters(), *self.D_B.parameters()]
        self.optimizer_G = torch.optim.Adam(params_g, lr=2e-4, betas=(0.5, 0.999))
        self.optimizer_D = torch.optim.Adam(params_d, lr=2e-4, betas=(0.5, 0.999))

    @staticmethod
    def gan_loss(prediction: Tensor, target_is_real: bool) -> Tensor:
        target = torch.tensor(1.0 if target_is_real else 0.0, device=prediction.device)
        return F.mse_loss(prediction, target.expand_as(prediction))

    def set_requires_grad(self, nets: list[nn.Module], requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def backward_g(self, real_A: Tensor, real_B: Tensor) -> dict[str, float]:
        fake_B = self.G_A(real_A)
        rec_A = self.G_B(fake_B)
        fake_A = self.G_B(real_B)
        rec_B = self.G_A(fake_A)
        loss_idt_A = F.l1_loss(self.G_A(real_B), real_B) * 10.0 * 0.5
        loss_idt_B = F.l1_loss(self.G_B(real_A), real_A) * 10.0 * 0.5
        loss_G_A = self.gan_loss(self.D_A(fake_B), True)
        loss_G_B = self.gan_loss(self.D_B(fake_A), True)
        loss_cycle_A = F.l1_loss(rec_A, real_A) * 10.0
        loss_cycle_B = F.l1_loss(rec_B, real_B) * 10.0
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        loss_G.backward()
        self.fake_A, self.fake_B = fake_A, fake_B
        return {"G/total": loss_G.item(), "G/adversarial_a2b": loss_G_A.item(), "G/adversarial_b2a": loss_G_B.item()}

    def backward_d_basic(self, net: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        loss_D = (self.gan_loss(net(real), True) + self.gan_loss(net(fake.detach()), False)) * 0.5
        loss_D.backward()
        return loss_D

    def step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real_A, real_B = batch["A"], batch["B"]
        self.set_requires_grad([self.D_A, self.D_B], False)
        self.optimizer_G.zero_grad()
        row = self.backward_g(real_A, real_B)
        self.optimizer_G.step()
        self.set_requires_grad([self.D_A, self.D_B], True)
        self.optimizer_D.zero_grad()
        loss_D_A = self.backward_d_basic(self.D_A, real_B, self.pool_B.query(self.fake_B))
        loss_D_B = self.backward_d_basic(self.D_B, real_A, self.pool_A.query(self.fake_A))
        self.optimizer_D.step()
        row["D/total"] = loss_D_A.item() + loss_D_B.item()
        return row


def reference_contender(trainer: Trainer, batches: list[dict[str, Tensor]], seed: int) -> Contender:
    model = ReferenceCycleGAN(trainer, trainer.device)
    return Contender(REFERENCE, lambda index: model.step(batches[index % len(batches)]), rng_state(seed))


# -- measurements beside the times --------------------------------------------------------------------
class FlopCount(TorchDispatchMode):
    """FLOPs of every aten op that torch.utils.flop_counter knows (convolutions and matmuls, forward and
    backward), summed — its FlopCounterMode without the module tracking, whose hooks break the
    autograd.grad of R1 (FUNIT)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def step_flops(trainer: Trainer, batch: dict[str, Tensor]) -> int:
    """FLOPs of one training step (forward and backward), 2 per multiply-accumulate."""
    with FlopCount() as counter:
        trainer.train_step(batch)
    trainer.step += 1
    return counter.total


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of an n³ matmul: the practical peak of this device for `dtype` (on the CPU measured
    on a quiet machine, as far as one comes within a minute)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    if device.type == "cpu":
        wait_for_quiet(WAIT["limit"])
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.matmul(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def relative_loss_change(row: dict[str, float], base: dict[str, float]) -> float:
    """Largest |Δ| / |base| over the loss terms both rows logged."""
    keys = [k for k in base if k.startswith(LOSS_KEYS) and k in row]
    return max((abs(row[k] - base[k]) / max(abs(base[k]), 1e-12) for k in keys), default=float("nan"))


def memory_probe(case: str, config: str, args: argparse.Namespace) -> dict[str, float]:
    """Peak memory of a fresh process that builds this contender and takes 2 steps (see `probe`)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--probe", case, config, "--device", args.device,
               "--compile-backend", args.compile_backend, *(["--smoke"] if args.smoke else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=os.environ.copy(), check=False)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def probe(case: str, config: str, args: argparse.Namespace) -> None:
    """--probe: build one contender, take 2 steps, print its peak memory as JSON (the last line)."""
    scratch = Path(tempfile.mkdtemp(prefix="train_speed_probe_"))
    recipe = case_recipe(case, args.smoke, args.device, scratch)
    trainer = build_trainer(recipe, "eager" if config == REFERENCE else config, args.compile_backend, scratch / "run")
    batches = prefetch(trainer, 2)
    contender = (reference_contender(trainer, batches, recipe.seed) if config == REFERENCE
                 else trainer_contender(config, trainer, batches, recipe.seed))
    if config == REFERENCE:
        del trainer.method, trainer.optimizer_g, trainer.optimizer_d  # leave only the reference's networks
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    run_rounds([contender], 2, trainer.device)  # the peak comes with the first step; the second confirms it
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    status = Path("/proc/self/status").read_text()
    result = {"rss_mib": int(status.split("VmHWM:")[1].split()[0]) / 1024}
    if trainer.device.type == "cuda":
        result["cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


# -- one case: all its contenders, interleaved -------------------------------------------------------
@dataclass
class CaseResult:
    case: str
    contenders: list[Contender]
    gflop_per_step: float
    memory: dict[str, dict[str, float]]
    parameters: int


def measure_case(case: str, args: argparse.Namespace, scratch: Path) -> CaseResult:
    recipe = case_recipe(case, args.smoke, args.device, scratch)
    print(f"{case}: {CASES[case][3]}", flush=True)
    contenders, trainers = [], {}
    for config in args.configs:
        trainers[config] = build_trainer(recipe, config, args.compile_backend, scratch / f"run-{case}-{config}")
        batches = prefetch(trainers[config], 4)
        contenders.append(trainer_contender(config, trainers[config], batches, recipe.seed))
    eager = trainers.get("eager") or next(iter(trainers.values()))
    if case == "cyclegan" and not args.no_reference:
        contenders.insert(0, reference_contender(eager, prefetch(eager, 4), recipe.seed))
    run_rounds(contenders, args.warmup + args.steps, eager.device, args.warmup, extra=2 * args.steps)
    flops = step_flops(eager, prefetch(eager, 1)[0])
    memory = {} if args.no_memory else {c.name: memory_probe(case, c.name, args) for c in contenders}
    parameters = sum(p.numel() for p in eager.method.parameters())
    return CaseResult(case, contenders, flops / 1e9, memory, parameters)


# -- the report --------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _memory_text(memory: dict[str, float] | None) -> str:
    if not memory:
        return "—"
    if "error" in memory:
        return f"failed: {memory['error'][:60]}"
    text = f"{memory['rss_mib']:.0f}"
    return text + (f" / {memory['cuda_mib']:.0f}" if "cuda_mib" in memory else "")


def case_rows(result: CaseResult, args: argparse.Namespace, rates: dict[str, float]) -> list[list[str]]:
    """One row per contender: median s/step, vs eager, first step, achieved GFLOP/s, loss change, memory."""
    medians = {c.name: statistics.median(c.clean_times(args.warmup)) for c in result.contenders}
    base = medians.get("eager", next(iter(medians.values())))
    eager = next((c for c in result.contenders if c.name == "eager"), None)
    rows = []
    for contender in result.contenders:
        median, clean = medians[contender.name], contender.clean_times(args.warmup)
        spread = f"{min(clean):.3f}–{max(clean):.3f} ({len(clean)} of {len(contender.times) - args.warmup})"
        rate = rates["bf16" if "bf16" in contender.name or "fp16" in contender.name else "fp32"]
        gflops = result.gflop_per_step / median
        change = (f"{relative_loss_change(contender.rows[0], eager.rows[0]):.1e}"
                  if eager is not None and contender is not eager else "—")
        rows.append([CASES[result.case][0] if result.case != "srresnet" else "srgan (stage 1)", contender.name,
                     f"**{median:.3f}**", spread, f"{base / median:.2f}×", f"{contender.times[0]:.1f}",
                     f"{gflops:.0f} ({100 * gflops / rate:.0f}%)", change, _memory_text(result.memory.get(contender.name))])
    return rows


def cyclegan_summary(result: CaseResult, args: argparse.Namespace) -> list[str]:
    """The reference comparison in one sentence, from the same interleaved run."""
    medians = {c.name: statistics.median(c.clean_times(args.warmup)) for c in result.contenders}
    if REFERENCE not in medians or "eager" not in medians:
        return []
    reference, eager = medians[REFERENCE], medians["eager"]
    i2i = {k: v for k, v in medians.items() if k != REFERENCE}
    best = min(i2i, key=i2i.get)
    rows = {c.name: c.rows[0] for c in result.contenders}
    return [(f"CycleGAN in the same run: reference-style step {reference:.3f} s, i2i eager {eager:.3f} s = "
             f"**{eager / reference:.2f}×** the reference's time; fastest i2i configuration `{best}` {i2i[best]:.3f} s "
             f"= **{i2i[best] / reference:.2f}×** (target ≤ 0.80×). From the same weights and batch the "
             f"reference-style step logs the same first-step losses as i2i eager to "
             f"{relative_loss_change(rows[REFERENCE], rows['eager']):.1e} (relative).")]


def header_lines(args: argparse.Namespace, rates: dict[str, float], minutes: float, load: list[float]) -> list[str]:
    shown = [a for a in sys.argv[1:] if a != "--out" and not a.endswith(".md")]
    command = shlex.join(["python", "benchmarks/train_speed.py", *shown])
    device = torch.cuda.get_device_name() if args.device == "cuda" else _cpu_name()
    return [
        "# Training speed per method and configuration",
        "",
        (f"`{command}` — {datetime.date.today().isoformat()}, {minutes:.1f} min ({WAIT['waited'] / 60:.1f} of them waiting "
         f"for other jobs on the machine to pause); {device}, "
         f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU capability "
         f"{torch.backends.cpu.get_cpu_capability()}; load average {load[0]:.1f} at the start, {load[1]:.1f} at the "
         f"end. Matmul rate (2048³, best of 5, at the start and the end): fp32 **{rates['fp32']:.0f}** GFLOP/s, bf16 **{rates['bf16']:.0f}** "
         f"GFLOP/s. Median of {args.steps} steps after {args.warmup} warm-up steps, contenders interleaved; "
         f"`compile` uses backend `{args.compile_backend}` with a cold cache"
         f"{'; smoke mode: tiny networks, the numbers mean nothing' if args.smoke else ''}."),
        "",
        ("Columns: s/step (median) and its range over the steps counted (steps during which other processes "
         f"used more than {100 * CONTENDED:.0f}% of the CPUs are left out while at least 3 others remain; up to "
         f"{2 * args.steps} extra rounds are run to replace them, and each step first waits up to {WAIT['limit']:g} s "
         "for a quiet machine); speed against eager; the first step (for compile: the "
         "compilation); achieved GFLOP/s = FLOPs of one eager step / median time (share of the matmul rate of the "
         "autocast dtype); relative change of the first step's losses against eager (same weights and batch); "
         "peak RSS MiB (/ peak CUDA MiB) of a process building the trainer and taking 2 steps."),
    ]


def report(args: argparse.Namespace, results: list[CaseResult], rates: dict[str, float], minutes: float,
           load: list[float]) -> list[str]:
    rows = [row for result in results for row in case_rows(result, args, rates)]
    networks = "; ".join(f"{r.case}: {'tiny (smoke)' if args.smoke else CASES[r.case][3]} ({r.parameters / 1e6:.1f} M "
                         f"parameters, {r.gflop_per_step:.1f} GFLOP per step)" for r in results)
    lines = [*header_lines(args, rates, minutes, load), "",
             *table(["method", "configuration", "s/step", "range", "speed vs eager", "first step s",
                     "GFLOP/s (of matmul)", "Δ losses step 1", "peak MiB"], rows),
             "", f"Networks: {networks}."]
    for result in results:
        lines += ["", *cyclegan_summary(result, args)] if result.case == "cyclegan" else []
    return lines


def _cpu_name() -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from translate_speed import cpu_name

    return cpu_name()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--methods", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), help="default: per device (see the docstring)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation, allocator)")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="seconds each CPU step may wait for other jobs to pause (default 60; 0 with --smoke)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-style CycleGAN step")
    parser.add_argument("--smoke", action="store_true", help="tiny networks and images: checks the code paths")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_speed.md")
    parser.add_argument("--probe", nargs=2, metavar=("CASE", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.configs = args.configs or DEFAULT_CONFIGS[args.device]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    WAIT["limit"] = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.smoke else 60.0)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        probe(*args.probe, args)
        return
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="train_speed_"))
    # A cold inductor cache, so the compile time shown is the real one; the memory probes inherit it warm.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(scratch / "inductor"))
    device = torch.device(args.device)
    load = [os.getloadavg()[0]]
    rates = {"fp32": matmul_rate(device, torch.float32), "bf16": matmul_rate(device, torch.bfloat16)}
    results = [measure_case(case, args, scratch) for case in args.methods]
    load.append(os.getloadavg()[0])
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):  # the better of start and end
        rates[name] = max(rates[name], matmul_rate(device, dtype))
    lines = report(args, results, rates, (time.perf_counter() - started) / 60, load)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
