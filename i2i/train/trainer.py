"""The one training loop, for every method.

Per step: generator losses (discriminators frozen) → weighted sum → G optimiser step → EMA update;
discriminator losses on the detached fakes (through the method's image pools, if any) → D step;
then both LR schedules. Around it: metrics.csv,
sample grids of fixed inputs, self-describing checkpoints, an exact resume state, and a clean stop
on Ctrl-C / SIGTERM at a step boundary (the state saved is that of a finished step).
"""

from __future__ import annotations

import json
import math
import random
import signal
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import Tensor
from torch.utils.data import DataLoader

from i2i.checkpoint import load_state, make_header, save_checkpoint, save_state
from i2i.config import to_dict
from i2i.data import build_dataset
from i2i.errors import I2IError
from i2i.files import atomic_write
from i2i.inference_model import InferenceModel
from i2i.methods.base import Method
from i2i.train.batches import StepBatchSampler
from i2i.train.distributed import Distributed
from i2i.train.ema import EMA
from i2i.train.image_pool import ImagePool
from i2i.train.run_files import MetricsLog, image_grid, write_grid
from i2i.train.schedule import constant_then_linear
from i2i.train.sync_batchnorm import convert_sync_batchnorm

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
EVAL_METRICS = ("psnr", "ssim", "l1")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise I2IError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise I2IError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(parameters: Any, config: Any, lr: float) -> torch.optim.Optimizer:
    """Adam (β₁, β₂ from the recipe) or RMSprop (PyTorch defaults, as the FUNIT reference)."""
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=config.weight_decay)
    raise I2IError(f"optimizer.name must be one of {', '.join(OPTIMIZERS)}, got {config.name!r}")


def weighted_total(losses: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """Σ weight · loss over the named terms; a term without a weight is an error, not a silent 1."""
    missing = [name for name in losses if name not in weights]
    if missing:
        raise I2IError(f"loss terms {missing} have no weight in recipe.loss_weights ({sorted(weights)})")
    return sum(weights[name] * value for name, value in losses.items())


class SaveError(I2IError):
    """A checkpoint or resume state could not be written; the previous ones are intact."""


class _StopRequest:
    """First Ctrl-C or SIGTERM asks the loop to stop after the current step; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside some test runners): keep defaults
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    def __init__(self, method: Method, run_dir: str | Path, console: Console | None = None,
                 max_time: float | None = None) -> None:
        self.method = method
        self.recipe = recipe = method.recipe
        self.run_dir = Path(run_dir)
        self.device = resolve_device(recipe.device)
        self.dist = Distributed(self.device)
        # Only rank 0 prints and writes files under torchrun.
        self.console = console or Console(stderr=True, quiet=not self.dist.is_main)
        method.validate()
        method.initialise()

        self._check_performance_options()
        torch.manual_seed(recipe.seed)
        random.seed(recipe.seed)
        if recipe.sync_batchnorm and self.dist.enabled:
            convert_sync_batchnorm(method)
        method.to(self.device)
        self.memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
        if recipe.channels_last:
            method.to(memory_format=torch.channels_last)
        self.dist.broadcast(method)
        self._seed_rank(0)
        self.optimizer_g = make_optimizer(method.generators.parameters(), recipe.optimizer, recipe.optimizer.lr_g)
        self.optimizer_d = make_optimizer(method.discriminators.parameters(), recipe.optimizer, recipe.optimizer.lr_d)
        schedule = method.lr_schedule() or constant_then_linear(recipe.steps, recipe.schedule.decay_start)
        self.scheduler_g = torch.optim.lr_scheduler.LambdaLR(self.optimizer_g, schedule)
        self.scheduler_d = torch.optim.lr_scheduler.LambdaLR(self.optimizer_d, schedule)
        self.ema = EMA(method.generators, recipe.ema_decay) if recipe.ema_decay > 0 else None
        # fp16 needs loss scaling (its small gradients underflow); disabled scalers pass straight through.
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=recipe.precision == "fp16")
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=recipe.precision == "fp16")
        if recipe.compile:  # after the EMA copy, which must stay a plain module; state-dict keys are unchanged
            for network in [*method.generators.values(), *method.discriminators.values()]:
                network.compile(backend=recipe.compile_backend)
        self.pools = {name: ImagePool(size) for name, size in method.pooled_fakes().items()}

        self.preprocess = method.preprocess()
        self.dataset = build_dataset(method.data_kind, recipe.data, self.preprocess, "train", augment=True)
        skipped = getattr(self.dataset, "skipped", [])
        if skipped:  # super-resolution: images smaller than one HR crop cannot give a training sample
            self.console.print(f"skipped {len(skipped)} training images smaller than the {recipe.image_size}-px "
                               f"crop (e.g. {skipped[0]}); training on {len(self.dataset.files)}")
        self.sample_images = self._fixed_samples()
        self.step = 0
        self.skipped_steps = 0          # steps whose losses were not finite (nothing was updated)
        self.max_time = max_time        # seconds of training after which fit() saves and stops
        self.stopped_by_time = False
        self.events: Any = None         # TensorBoard SummaryWriter (rank 0, log.tensorboard)
        self.metrics = MetricsLog(self.run_dir / "metrics.csv")
        self.eval_log = MetricsLog(self.run_dir / "eval.csv")
        self.best: dict[str, Any] = {}  # {"metric", "value", "step"} of checkpoints/best.safetensors
        self._eval_pairs = self._held_out_pairs() if recipe.log.eval_every > 0 else []

    # -- set-up -----------------------------------------------------------------------------------
    def _check_performance_options(self) -> None:
        recipe = self.recipe
        if recipe.precision not in PRECISIONS:
            raise I2IError(f"precision must be one of {', '.join(PRECISIONS)}, got {recipe.precision!r}")
        if recipe.precision == "fp16" and self.device.type != "cuda":
            raise I2IError("precision=fp16 needs a CUDA GPU (on CPU use bf16 or fp32)")
        if recipe.grad_accumulation < 1:
            raise I2IError(f"grad_accumulation must be >= 1, got {recipe.grad_accumulation}")
        local_batch = recipe.batch_size // self.dist.world_size
        if local_batch % recipe.grad_accumulation:
            raise I2IError(f"the batch of {local_batch} images per process cannot be split into grad_accumulation="
                           f"{recipe.grad_accumulation} equal micro-batches")

    def _held_out_pairs(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Ground-truth pairs for periodic evaluation, loaded once (test split, else val)."""
        from i2i.evaluate import held_out_pairs

        recipe, method = self.recipe, self.method
        if recipe.log.eval_metric not in EVAL_METRICS:
            raise I2IError(f"log.eval_metric must be one of {', '.join(EVAL_METRICS)}, got {recipe.log.eval_metric!r}")
        if method.header().get("kind") in ("style", "class"):
            raise I2IError(f"log.eval_every: a {recipe.method} model has no single right output to score during "
                           f"training (score it with `i2i eval` or benchmarks/ after training)")
        errors = []
        for split in ("test", "val"):
            try:
                if method.data_kind == "superres":
                    from i2i.data.superres import held_out_sr_pairs

                    pairs = held_out_sr_pairs(Path(recipe.data.root), split, self.preprocess.scale,
                                              recipe.log.eval_limit)
                else:
                    direction = next(iter(method.exported_generators()))
                    header = {"method": recipe.method, "domains": method.domains()}
                    pairs = held_out_pairs(header, direction, Path(recipe.data.root), split, recipe.log.eval_limit)
                if pairs:
                    return pairs
            except I2IError as error:
                errors.append(str(error))
        raise I2IError(f"log.eval_every needs held-out images with ground truth in {recipe.data.root} (test or val "
                       f"split): {errors[0] if errors else 'none found'}")

    def _autocast(self) -> Any:
        dtype = PRECISIONS[self.recipe.precision]
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def _fixed_samples(self) -> dict[str, Tensor]:
        """The first `num_samples` held-out pairs (test, else val, else train), un-augmented, in [0, 1]."""
        for split in ("test", "val", "train"):
            try:
                dataset = build_dataset(self.method.data_kind, self.recipe.data, self.preprocess, split, augment=False)
                break
            except I2IError:
                continue
        count = min(self.recipe.log.num_samples, len(dataset))
        items = [dataset[i] for i in range(count)]
        mean = torch.tensor(self.preprocess.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.preprocess.std).view(1, -1, 1, 1)
        # Images (C, H, W) back to [0, 1]; other tensors (class labels) as they are.
        return {key: torch.stack([item[key] for item in items]) * std + mean if value.ndim == 3
                else torch.stack([item[key] for item in items])
                for key, value in items[0].items() if isinstance(value, Tensor)}

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "recipe_json": json.dumps(to_dict(self.recipe)),
            "method": self.method.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scheduler_g": self.scheduler_g.state_dict(),
            "scheduler_d": self.scheduler_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_python": list(random.getstate()[1]),
            "skipped_steps": self.skipped_steps,
            "best_eval": json.dumps(self.best),
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        for name, pool in self.pools.items():
            state[f"pool_{name}"] = pool.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        method_state = dict(state["method"])
        for key, value in self.method.adversary.state_dict().items():  # runs saved before recipe.gan existed
            method_state.setdefault(f"adversary.{key}", value)
        self.method.load_state_dict(method_state)
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.scheduler_g.load_state_dict(state["scheduler_g"])
        self.scheduler_d.load_state_dict(state["scheduler_d"])
        for name, scaler in (("scaler_g", self.scaler_g), ("scaler_d", self.scaler_d)):
            if state.get(name):
                scaler.load_state_dict(state[name])
        # The saved learning rates belong to the saved run's schedule; `--resume --steps N` changes the
        # schedule (its decay spans the new total), so the rates are recomputed for the step reached.
        for scheduler in (self.scheduler_g, self.scheduler_d):
            rates = [base * rule(scheduler.last_epoch) for base, rule in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
            for group, rate in zip(scheduler.optimizer.param_groups, rates):
                group["lr"] = rate
            scheduler._last_lr = rates
        if self.ema is not None:
            if "ema" not in state:
                raise I2IError("the resume state has no EMA weights, but the recipe enables ema_decay")
            self.ema.load_state_dict(state["ema"])
        for name, pool in self.pools.items():
            pool.load_state_dict(state[f"pool_{name}"], self.device)
        torch.set_rng_state(state["rng_torch"])
        random.setstate((3, tuple(state["rng_python"]), None))
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.step = int(state["step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.best = json.loads(state.get("best_eval", "{}"))

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
            self.eval_log.truncate_after(self.step)

    # -- the loop ---------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One optimisation step: the generators (every `gan.n_critic`-th step), then the
        discriminators, each over `grad_accumulation` micro-batches of `batch`."""
        method, adversary = self.method, self.method.adversary
        method.train()
        method.step = self.step
        chunks = _micro_batches(batch, self.recipe.grad_accumulation)
        update_g = adversary.updates_generator(self.step)
        row: dict[str, float] = {}

        # Generator pass (discriminators frozen); on critic-only steps just the fakes, without gradients.
        method.discriminators.requires_grad_(False)
        fakes_per_chunk = []
        for chunk in chunks:
            with self._autocast(), torch.set_grad_enabled(update_g):
                generator_losses, fakes = method.generator_losses(chunk)
                generator_total = weighted_total(generator_losses, method.weights_for(generator_losses))
            _accumulate(row, {**{f"G/{name}": value.item() for name, value in generator_losses.items()},
                              "G/total": generator_total.item()}, len(chunks))
            if update_g:  # backward per micro-batch: only one micro-batch's activations are alive at a time
                self.scaler_g.scale(generator_total / len(chunks)).backward()
            fakes_per_chunk.append({name: fake.detach() for name, fake in fakes.items()})
        method.discriminators.requires_grad_(True)
        # Checked before any update: a NaN must never reach the weights. A bad step updates nothing
        # (not even D, whose fakes came from the same broken forward pass).
        if self._finite(row):
            if update_g:
                row["grad_norm_g"] = self._optimiser_step(self.optimizer_g, self.scaler_g, method.generators)
                if self.ema is not None:
                    self.ema.update(method.generators)
            self._discriminator_step(chunks, fakes_per_chunk, row)
        self.optimizer_g.zero_grad(set_to_none=True)
        self.optimizer_d.zero_grad(set_to_none=True)
        adversary.end_step()
        row.update(adversary.stats())
        row["lr_g"] = self.optimizer_g.param_groups[0]["lr"]
        row["lr_d"] = self.optimizer_d.param_groups[0]["lr"]
        with warnings.catch_warnings():
            # Steps without an update (SRGAN's first stage has no D step; a skipped non-finite step has
            # none at all) still advance the schedules, so that the LR follows the global step; torch
            # warns about stepping a scheduler before its optimiser, which is intended here.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler_g.step()
            self.scheduler_d.step()
        return row

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
            _accumulate(row, {**{f"D/{name}": value.item() for name, value in discriminator_losses.items()},
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
        norm = _gradient_norm(networks)
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
                          generator=torch.Generator(), pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def fit(self) -> bool:
        """Train to `recipe.steps`. Returns False if stopped early by a signal (state saved)."""
        recipe, log = self.recipe, self.recipe.log
        main = self.dist.is_main
        if main and log.tensorboard and self.events is None:
            from torch.utils.tensorboard import SummaryWriter  # imports TensorBoard: only when asked for

            self.events = SummaryWriter(str(self.run_dir / "events"), purge_step=self.step + 1 if self.step else None)
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.run_dir / "recipe.json", lambda t: t.write_text(json.dumps(to_dict(recipe), indent=2)))
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                            console=self.console, disable=not self.console.is_terminal)
        started, started_step = time.monotonic(), self.step
        finished = True
        with _StopRequest() as stop, progress:
            task = progress.add_task(recipe.method, total=recipe.steps, completed=self.step, speed="", losses="")
            for batch in self._loader():
                batch = {k: v.to(self.device, non_blocking=True,
                                 memory_format=self.memory_format if v.ndim == 4 else torch.preserve_format)
                         for k, v in batch.items() if isinstance(v, Tensor)}
                row = self.train_step(batch)
                self.step += 1
                elapsed = time.monotonic() - started
                speed = (self.step - started_step) / max(elapsed, 1e-9)
                if main and (self.step % log.log_every == 0 or self.step == recipe.steps):
                    self.metrics.append({"step": self.step, "time": round(elapsed, 3), **row})
                    if self.events is not None:
                        for name, value in row.items():
                            self.events.add_scalar(name, value, self.step)
                    if not self.console.is_terminal:
                        self.console.print(f"step {self.step}/{recipe.steps}  {speed:.2f} it/s  " + _short(row))
                progress.update(task, completed=self.step, speed=f"{speed:.2f} it/s", losses=_short(row))
                if main and self.step % log.sample_every == 0:
                    self.write_samples()
                if main and self.step % log.checkpoint_every == 0 and self.step < recipe.steps:
                    try:
                        self.save()
                    except SaveError as error:  # keep training: space may be freed before the next save
                        self.console.print(f"warning: {error}; training goes on and tries again at the next checkpoint")
                if main and log.eval_every and self.step % log.eval_every == 0:
                    self.evaluate()
                if self.max_time is not None and elapsed >= self.max_time and self.step < recipe.steps:
                    self.stopped_by_time = True
                # Every process must leave the loop at the same step (the next one would wait forever
                # in an all-reduce): a stop asked of any one is a stop for all.
                if not self.dist.all_finite(not (stop.requested or self.stopped_by_time)):
                    finished = self.step >= recipe.steps
                    break
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
        return finished

    # -- outputs ----------------------------------------------------------------------------------
    def deployed(self, direction: str) -> InferenceModel:
        generators = self.ema.module if self.ema is not None else self.method.generators
        generator = self.method.exported_generators(generators)[direction]
        return InferenceModel(generator, self.preprocess, self.recipe.inference.batchnorm).to(self.device)

    @torch.no_grad()
    def write_samples(self) -> None:
        columns = self.method.sample_columns(self.sample_images, _SampleTranslator(self))
        columns = [column.permute(0, 2, 3, 1).numpy() for column in columns]
        write_grid(self.run_dir / "samples" / f"step_{self.step:07d}.png", columns)
        if self.events is not None:
            self.events.add_image("samples", image_grid(columns), self.step, dataformats="HWC")

    def _exported(self, finished: bool, **trained: Any) -> tuple[dict[str, torch.nn.Module], dict[str, Any]]:
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

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Score the deployed generator on the held-out pairs (as `i2i eval` does), append to eval.csv,
        and keep checkpoints/best.safetensors for the best `log.eval_metric` so far."""
        from i2i.evaluate import evaluate_pairs, evaluate_superres
        from i2i.translate import Backend

        direction = next(iter(self.method.exported_generators()))
        model = self.deployed(direction).eval()

        def run(batch: np.ndarray) -> np.ndarray:
            return model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

        backend = Backend(run, self.preprocess, direction, "training")
        if self.method.data_kind == "superres":
            model_scores = evaluate_superres(backend, self._eval_pairs, self.preprocess.scale).model
            scores = {"psnr": model_scores["main_psnr"], "ssim": model_scores["main_ssim"]}
        else:
            scores = evaluate_pairs(backend, self._eval_pairs).model
        self.eval_log.append({"step": self.step, **{k: round(v, 6) for k, v in scores.items()}})
        if self.events is not None:
            for name, value in scores.items():
                self.events.add_scalar(f"eval/{name}", value, self.step)
        metric = self.recipe.log.eval_metric
        value = scores[metric]
        better = not self.best or (value < self.best["value"] if metric == "l1" else value > self.best["value"])
        if better:
            exported, header = self._exported(False, eval={"split_pairs": len(self._eval_pairs), **scores})
            try:
                save_checkpoint(self.run_dir / "checkpoints" / "best.safetensors", exported, header)
                self.best = {"metric": metric, "value": value, "step": self.step}
            except OSError as error:
                self.console.print(f"warning: could not write the best checkpoint ({error.strerror or error}); "
                                   f"the previous one is kept")
        self.console.print(f"eval at step {self.step}: " + "  ".join(f"{k}={v:.4g}" for k, v in scores.items())
                           + f"  (best {metric} {self.best.get('value', float('nan')):.4g} at step "
                             f"{self.best.get('step', '-')})")
        return scores

    def save(self, finished: bool = False) -> Path:
        """Checkpoint (EMA weights if enabled) + resume state; keeps the newest `keep_checkpoints`."""
        exported, header = self._exported(finished)
        path = self.run_dir / "checkpoints" / f"step_{self.step:07d}.safetensors"
        try:
            save_checkpoint(path, exported, header)
            save_state(self.run_dir / "state.pt", self.state_dict())
        except OSError as error:  # disk full, quota, permissions: the atomic writes left the old files whole
            previous = sorted(p for p in (self.run_dir / "checkpoints").glob("step_*.safetensors") if p != path)
            kept = f"the previous checkpoint {previous[-1]} and its state.pt are kept" if previous else \
                "no earlier checkpoint exists"
            raise SaveError(f"could not save step {self.step} in {self.run_dir} ({error.strerror or error}); "
                            f"{kept}") from None
        keep = self.recipe.log.keep_checkpoints
        if keep > 0:
            for old in sorted((self.run_dir / "checkpoints").glob("step_*.safetensors"))[:-keep]:
                old.unlink()
        return path


class _SampleTranslator:
    """What `Method.sample_columns` gets: `translate(direction, images, *codes)` runs the deployed
    generator (as `i2i translate` would); `translate.encode(direction, images)` its style/class encoder."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.models: dict[str, InferenceModel] = {}

    def _model(self, direction: str) -> InferenceModel:
        if direction not in self.models:
            self.models[direction] = self.trainer.deployed(direction)
        return self.models[direction]

    def __call__(self, direction: str, images: Tensor, *codes: Tensor) -> Tensor:
        device = self.trainer.device
        return self._model(direction)(images.to(device), *(code.to(device) for code in codes)).cpu()

    def encode(self, direction: str, images: Tensor) -> Tensor:
        return self._model(direction).encode(images.to(self.trainer.device)).cpu()


def _gradient_norm(module: torch.nn.Module) -> float:
    """L2 norm of all gradients of `module` (after averaging over processes): a rising norm is an early
    sign of a diverging run."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _micro_batches(batch: dict[str, Tensor], count: int) -> list[dict[str, Tensor]]:
    """`batch` split along its first dimension into `count` equal micro-batches."""
    if count == 1:
        return [batch]
    size = next(iter(batch.values())).shape[0] // count
    return [{k: v[i * size:(i + 1) * size] for k, v in batch.items()} for i in range(count)]


def _accumulate(row: dict[str, float], values: dict[str, float], count: int) -> None:
    """Add the mean over `count` micro-batches of each value into `row`."""
    for name, value in values.items():
        row[name] = row.get(name, 0.0) + value / count


def _short(row: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.3g}" for k, v in row.items() if k.startswith(("G/", "D/")) and not k.endswith("total"))
