"""The one training loop, for every method.

Per step (`train_step`): generator losses with the discriminators frozen → weighted sum (the only
place `recipe.loss_weights` apply) → G optimiser step → EMA update; discriminator losses on the
detached fakes (through the method's image pools, if any) → D step; then both LR schedules. A step
whose losses are not finite updates nothing. Around the loop (`fit`): metrics.csv and TensorBoard,
sample grids of fixed inputs (`samples.py`), periodic held-out evaluation (`held_out.py`),
self-describing checkpoints and an exact resume state (`checkpoints.py`, `resume.py`), and a clean
stop on Ctrl-C / SIGTERM / --max-time at a step boundary (`stop.py`).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.progress import TimeRemainingColumn
from torch import Tensor
from torch.utils.data import DataLoader

from i2i.checkpoint import load_state, make_header
from i2i.config import to_dict
from i2i.data import build_dataset
from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.inference.deployed import InferenceModel
from i2i.methods.base import Method
from i2i.runtime import autocast_dtype, resolve_device
from i2i.train.batches import StepBatchSampler, accumulate, micro_batches
from i2i.train.checkpoints import SaveError, save_step
from i2i.train.distributed import Distributed
from i2i.train.ema import EMA
from i2i.train.held_out import HeldOutEvaluation, evaluate_and_keep_best
from i2i.train.image_pool import ImagePool
from i2i.train.optimizers import gradient_norm, make_optimizer, weighted_total
from i2i.train.resume import restore_training_state, training_state
from i2i.train.run_files import MetricsLog, image_grid, write_grid
from i2i.train.samples import SampleTranslator, fixed_samples
from i2i.train.schedule import constant_then_linear
from i2i.train.stop import StopRequest
from i2i.train.sync_batchnorm import convert_sync_batchnorm

TRAIN_PRECISIONS = ("fp32", "bf16", "fp16")  # no `auto`: a recipe states what it trains in
__all__ = ["SaveError", "Trainer", "make_optimizer", "weighted_total"]


class Trainer:
    def __init__(self, method: Method, run_dir: str | Path, console: Console | None = None,
                 max_time: float | None = None) -> None:
        self.method = method
        self.recipe = recipe = method.recipe
        self.run_dir = Path(run_dir)
        self.device = torch.device(resolve_device(recipe.device, int(os.environ.get("LOCAL_RANK", "0"))))
        self.dist = Distributed(self.device)
        # Only rank 0 prints and writes files under torchrun.
        self.console = console or Console(stderr=True, quiet=not self.dist.is_main)
        method.validate()
        method.initialise()
        # Before the EMA copy and the optimisers, which start from these weights; a run being resumed
        # (it has a state.pt) loads its own state instead.
        if recipe.init and not (self.run_dir / "state.pt").exists():
            from i2i.train.init import initialise_from

            loaded = initialise_from(method, recipe.init)
            self.console.print(f"--init {recipe.init}: {', '.join(loaded)}")
        self._check_performance_options()
        torch.manual_seed(recipe.seed)
        random.seed(recipe.seed)
        self._place_networks()
        self._build_optimisation()
        self.pools = {name: ImagePool(size) for name, size in method.pooled_fakes().items()}

        self.preprocess = method.preprocess()
        self.dataset = build_dataset(method.data_kind, recipe.data, self.preprocess, "train", augment=True)
        skipped = getattr(self.dataset, "skipped", [])
        if skipped:  # super-resolution: images smaller than one HR crop cannot give a training sample
            self.console.print(f"skipped {len(skipped)} training images smaller than the {recipe.image_size}-px "
                               f"crop (e.g. {skipped[0]}); training on {len(self.dataset.files)}")
        self.sample_images = fixed_samples(method, self.preprocess)
        self.step = 0
        self.skipped_steps = 0          # steps whose losses were not finite (nothing was updated)
        self.max_time = max_time        # seconds of training after which fit() saves and stops
        self.stopped_by_time = False
        self.events: Any = None         # TensorBoard SummaryWriter (rank 0, log.tensorboard)
        self.metrics = MetricsLog(self.run_dir / "metrics.csv")
        self.held_out = HeldOutEvaluation(method, self.preprocess, self.run_dir)

    # -- set-up -----------------------------------------------------------------------------------
    def _check_performance_options(self) -> None:
        recipe = self.recipe
        self.autocast_dtype = autocast_dtype(recipe.precision, str(self.device), TRAIN_PRECISIONS, flag="precision=")
        if recipe.grad_accumulation < 1:
            raise I2IError(f"grad_accumulation must be >= 1, got {recipe.grad_accumulation}")
        local_batch = recipe.batch_size // self.dist.world_size
        if local_batch % recipe.grad_accumulation:
            raise I2IError(f"the batch of {local_batch} images per process cannot be split into grad_accumulation="
                           f"{recipe.grad_accumulation} equal micro-batches")

    def _place_networks(self) -> None:
        """Synchronised BatchNorm, the device, channels-last, and the same initial weights on every process."""
        method, recipe = self.method, self.recipe
        if recipe.sync_batchnorm and self.dist.enabled:
            convert_sync_batchnorm(method)
        method.to(self.device)
        self.memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
        if recipe.channels_last:
            method.to(memory_format=torch.channels_last)
        self.dist.broadcast(method)
        self._seed_rank(0)

    def _build_optimisation(self) -> None:
        """Optimisers, LR schedules, EMA, gradient scalers and (optionally) compiled networks."""
        method, recipe = self.method, self.recipe
        self.optimizer_g = make_optimizer(method.generators.parameters(), recipe.optimizer, recipe.optimizer.lr_g)
        self.optimizer_d = make_optimizer(method.discriminators.parameters(), recipe.optimizer, recipe.optimizer.lr_d)
        schedule = method.lr_schedule() or constant_then_linear(recipe.steps, recipe.schedule.decay_start)
        self.scheduler_g = torch.optim.lr_scheduler.LambdaLR(self.optimizer_g, schedule)
        self.scheduler_d = torch.optim.lr_scheduler.LambdaLR(self.optimizer_d, schedule)
        self.ema = EMA(method.generators, recipe.ema_decay) if recipe.ema_decay > 0 else None
        # fp16 needs loss scaling (its small gradients underflow); disabled scalers pass straight through.
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=recipe.precision == "fp16")
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=recipe.precision == "fp16")
        if recipe.compile:  # after the EMA copy, which must stay a plain module; state-dict keys are unchanged.
            # Not the discriminators of R1 / WGAN-GP: compiled graphs refuse their double backward.
            twice = recipe.gan.r1 > 0 or recipe.gan.objective == "wgan_gp"
            for network in [*method.generators.values(), *([] if twice else method.discriminators.values())]:
                network.compile(backend=recipe.compile_backend)

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    # -- state (resume.py) ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return training_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_training_state(self, state)

    def _seed_rank(self, step: int) -> None:
        """Under torchrun every process draws its own noise (random styles, pools, dropout), from
        (seed, step, rank): a resumed run draws the same as an uninterrupted one. A single process
        keeps the exact RNG states saved in state.pt instead."""
        if self.dist.enabled:
            seed = int(np.random.SeedSequence([self.recipe.seed, step, self.dist.rank]).generate_state(1)[0])
            torch.manual_seed(seed)
            random.seed(seed)

    def resume(self) -> None:
        if self.dist.is_main:
            for leftover in self.run_dir.rglob("*.i2i-tmp*"):  # half-written files of a killed process
                leftover.unlink()
        self.dist.barrier()
        self.load_state_dict(load_state(self.run_dir / "state.pt"))
        self._seed_rank(self.step)
        if self.dist.is_main:
            self.metrics.truncate_after(self.step)
            self.held_out.log.truncate_after(self.step)

    # -- the loop ---------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One optimisation step: the generators (every `gan.n_critic`-th step), then the
        discriminators, each over `grad_accumulation` micro-batches of `batch`; returns the logged row."""
        method = self.method
        method.train()
        method.step = self.step
        chunks = micro_batches(batch, self.recipe.grad_accumulation)
        update_g = method.adversary.updates_generator(self.step)
        row: dict[str, float] = {}
        fakes = self._generator_pass(chunks, update_g, row)
        # Checked before any update: a NaN must never reach the weights. A bad step updates nothing
        # (not even D, whose fakes came from the same broken forward pass).
        if self._finite(row):
            if update_g:
                row["grad_norm_g"] = self._optimiser_step(self.optimizer_g, self.scaler_g, method.generators)
                if self.ema is not None:
                    self.ema.update(method.generators)
            self._discriminator_step(chunks, fakes, row)
        self._end_step(row)
        return row

    def _generator_pass(self, chunks: list[dict[str, Tensor]], update_g: bool,
                        row: dict[str, float]) -> list[dict[str, Tensor]]:
        """Generator losses with the discriminators frozen, weighted, backward per micro-batch (on
        critic-only steps just the fakes, without gradients); returns the detached fakes."""
        method = self.method
        method.discriminators.requires_grad_(False)
        fakes_per_chunk = []
        for chunk in chunks:
            with self._autocast(), torch.set_grad_enabled(update_g):
                generator_losses, fakes = method.generator_losses(chunk)
                generator_total = weighted_total(generator_losses, method.weights_for(generator_losses))
            accumulate(row, {**{f"G/{name}": value.item() for name, value in generator_losses.items()},
                             "G/total": generator_total.item()}, len(chunks))
            if update_g:  # backward per micro-batch: only one micro-batch's activations are alive at a time
                self.scaler_g.scale(generator_total / len(chunks)).backward()
            fakes_per_chunk.append({name: fake.detach() for name, fake in fakes.items()})
        method.discriminators.requires_grad_(True)
        return fakes_per_chunk

    def _end_step(self, row: dict[str, float]) -> None:
        """Clear the gradients, let the adversary anneal/adapt, log the rates, advance both schedules."""
        self.optimizer_g.zero_grad(set_to_none=True)
        self.optimizer_d.zero_grad(set_to_none=True)
        self.method.adversary.end_step()
        row.update(self.method.adversary.stats())
        row["lr_g"] = self.optimizer_g.param_groups[0]["lr"]
        row["lr_d"] = self.optimizer_d.param_groups[0]["lr"]
        with warnings.catch_warnings():
            # Steps without an update (SRGAN's first stage has no D step; a skipped non-finite step has
            # none at all) still advance the schedules, so that the LR follows the global step; torch
            # warns about stepping a scheduler before its optimiser, which is intended here.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler_g.step()
            self.scheduler_d.step()

    def _discriminator_step(self, chunks: list[dict[str, Tensor]], fakes_per_chunk: list[dict[str, Tensor]],
                            row: dict[str, float]) -> None:
        method = self.method
        for chunk, fakes in zip(chunks, fakes_per_chunk, strict=True):
            fakes = {k: self.pools[k].query(v) if k in self.pools else v for k, v in fakes.items()}
            with self._autocast():
                discriminator_losses = method.discriminator_losses(chunk, fakes)
                if not discriminator_losses:  # {} means: no discriminator update this step
                    return
                discriminator_total = weighted_total(discriminator_losses, method.weights_for(discriminator_losses))
            accumulate(row, {**{f"D/{name}": value.item() for name, value in discriminator_losses.items()},
                              "D/total": discriminator_total.item()}, len(chunks))
            self.scaler_d.scale(discriminator_total / len(chunks)).backward()
        if self._finite(row):
            row["grad_norm_d"] = self._optimiser_step(self.optimizer_d, self.scaler_d, method.discriminators)
            method.adversary.after_d_step(method.discriminators)

    def _optimiser_step(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                        networks: torch.nn.Module) -> float:
        """Average gradients over processes, unscale, step; returns the gradient norm."""
        scaler.unscale_(optimizer)
        self.dist.average_gradients(networks.parameters())
        norm = gradient_norm(networks)
        scaler.step(optimizer)
        scaler.update()
        return norm

    def _finite(self, row: dict[str, float]) -> bool:
        """True if every loss in `row` is finite; else count the step as skipped, warn, and stop the
        run (I2IError) once more than `max_nonfinite_steps` steps were skipped."""
        bad = [name for name, value in row.items() if not math.isfinite(value)]
        if self.dist.all_finite(not bad):
            return True
        bad = bad or ["(on another process)"]
        self.skipped_steps += 1
        row["skipped"] = 1.0
        limit = self.recipe.max_nonfinite_steps
        if self.skipped_steps > limit:
            raise I2IError(f"non-finite loss {bad} at step {self.step + 1}: {self.skipped_steps} steps skipped, more than "
                           f"max_nonfinite_steps={limit}; the last checkpoint in {self.run_dir / 'checkpoints'} is "
                           f"intact — lower the learning rate (or try another gan.objective) and --resume")
        self.console.print(f"warning: non-finite loss {bad} at step {self.step + 1}; step skipped "
                           f"({self.skipped_steps} of at most {limit})")
        return False

    def _loader(self) -> DataLoader:
        recipe = self.recipe
        sampler = StepBatchSampler(len(self.dataset), recipe.batch_size, recipe.seed, self.step, recipe.steps,
                                   share=self.dist.share(recipe.batch_size))
        # Our own generator: creating the loader must not consume the global RNG (dropout draws from it).
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=recipe.data.num_workers,
                          generator=torch.Generator(), pin_memory=self.device.type == "cuda")

    def fit(self) -> bool:
        """Train to `recipe.steps`. Returns False if stopped early by a signal or --max-time (state saved)."""
        recipe = self.recipe
        self._open_run_files()
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                            console=self.console, disable=not self.console.is_terminal)
        started, started_step = time.monotonic(), self.step
        finished = True
        with StopRequest() as stop, progress:
            task = progress.add_task(recipe.method, total=recipe.steps, completed=self.step, speed="", losses="")
            for batch in self._loader():
                batch = {k: v.to(self.device, non_blocking=True,
                                 memory_format=self.memory_format if v.ndim == 4 else torch.preserve_format)
                         for k, v in batch.items() if isinstance(v, Tensor)}
                row = self.train_step(batch)
                self.step += 1
                elapsed = time.monotonic() - started
                speed = (self.step - started_step) / max(elapsed, 1e-9)
                self._after_step(row, elapsed, speed)
                progress.update(task, completed=self.step, speed=f"{speed:.2f} it/s", losses=_short(row))
                if self.max_time is not None and elapsed >= self.max_time and self.step < recipe.steps:
                    self.stopped_by_time = True
                # Every process must leave the loop at the same step (the next one would wait forever
                # in an all-reduce): a stop asked of any one is a stop for all.
                if not self.dist.all_finite(not (stop.requested or self.stopped_by_time)):
                    finished = self.step >= recipe.steps
                    break
        self._close_run(finished)
        return finished

    def _open_run_files(self) -> None:
        """recipe.json (rank 0) and the TensorBoard writer, if asked for."""
        if not self.dist.is_main:
            return
        if self.recipe.log.tensorboard and self.events is None:
            from torch.utils.tensorboard import SummaryWriter  # imports TensorBoard: only when asked for

            self.events = SummaryWriter(str(self.run_dir / "events"), purge_step=self.step + 1 if self.step else None)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.run_dir / "recipe.json", lambda t: t.write_text(json.dumps(to_dict(self.recipe), indent=2)))

    def _after_step(self, row: dict[str, float], elapsed: float, speed: float) -> None:
        """Rank 0's periodic work: metrics row, samples, held-out evaluation, then the checkpoint (its state has the best)."""
        recipe, log = self.recipe, self.recipe.log
        if not self.dist.is_main:
            return
        if self.step % log.log_every == 0 or self.step == recipe.steps:
            self.metrics.append({"step": self.step, "time": round(elapsed, 3), **row})
            if self.events is not None:
                for name, value in row.items():
                    self.events.add_scalar(name, value, self.step)
            if not self.console.is_terminal:
                self.console.print(f"step {self.step}/{recipe.steps}  {speed:.2f} it/s  " + _short(row))
        if self.step % log.sample_every == 0:
            self.write_samples()
        if log.eval_every and self.step % log.eval_every == 0:
            self.evaluate()
        if self.step % log.checkpoint_every == 0 and self.step < recipe.steps:
            try:
                self.save()
            except SaveError as error:  # keep training: space may be freed before the next save
                self.console.print(f"warning: {error}; training goes on and tries again at the next checkpoint")

    def _close_run(self, finished: bool) -> None:
        """The last samples, evaluation and checkpoint, and how to continue an unfinished run."""
        recipe, log, main = self.recipe, self.recipe.log, self.dist.is_main
        if main and self.step % log.sample_every:
            self.write_samples()
        if main and log.eval_every and self.step % log.eval_every and finished:
            self.evaluate()
        if main:
            self.save(finished=self.step >= recipe.steps)
        if self.events is not None:
            self.events.close()
        self.dist.barrier()  # the final checkpoint exists before any process reports it
        if not finished:
            reason = f"--max-time {self.max_time:g} s reached: " if self.stopped_by_time else ""
            self.console.print(f"{reason}stopped at step {self.step}/{recipe.steps}; state saved — continue with "
                               f"`i2i train {recipe.method} --out {self.run_dir} --resume`")

    # -- outputs ----------------------------------------------------------------------------------
    def deployed(self, direction: str) -> InferenceModel:
        generators = self.ema.module if self.ema is not None else self.method.generators
        generator = self.method.exported_generators(generators)[direction]
        return InferenceModel(generator, self.preprocess, self.recipe.inference.batchnorm).to(self.device)

    @torch.no_grad()
    def write_samples(self) -> None:
        columns = self.method.sample_columns(self.sample_images, SampleTranslator(self.deployed, self.device))
        columns = [column.permute(0, 2, 3, 1).numpy() for column in columns]
        write_grid(self.run_dir / "samples" / f"step_{self.step:07d}.png", columns)
        if self.events is not None:
            self.events.add_image("samples", image_grid(columns), self.step, dataformats="HWC")

    def exported(self, finished: bool, **trained: Any) -> tuple[dict[str, torch.nn.Module], dict[str, Any]]:
        """The deployed generators (EMA weights if enabled) and their checkpoint header."""
        generators = self.ema.module if self.ema is not None else self.method.generators
        exported = self.method.exported_generators(generators)
        header = make_header(
            self.recipe.method, self.method.domains(), exported, self.preprocess,
            inference=asdict(self.recipe.inference), recipe=to_dict(self.recipe),
            trained={"steps": self.step, "finished": finished, "ema": self.ema is not None,
                     "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), **trained},
            conditioning=self.method.header(),
        )
        return exported, header

    def evaluate(self) -> dict[str, float]:
        """Score the deployed generator (and D) on held-out data, log it, keep the best checkpoint (held_out.py)."""
        return evaluate_and_keep_best(self)

    def save(self, finished: bool = False) -> Path:
        """Checkpoint (EMA weights if enabled) + resume state; keeps the newest `keep_checkpoints`."""
        exported, header = self.exported(finished)
        return save_step(self.run_dir, self.step, exported, header, self.state_dict(), self.recipe.log.keep_checkpoints)


def _short(row: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.3g}" for k, v in row.items() if k.startswith(("G/", "D/")) and not k.endswith("total"))
