"""`i2i train METHOD`: resolve the recipe (defaults → preset → flags → --set), then run the trainer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from i2i.cli import app
from i2i.errors import I2IError


@app.command()
def train(
    method: str = typer.Argument(..., help="Method to train: pix2pix (paired), cyclegan or munit (unpaired; munit "
                                           "multimodal), funit (few-shot, one folder per class) or srgan "
                                           "(super-resolution from a folder of HR images)."),
    data: Path | None = typer.Option(None, help="Data folder (default: the recipe's data.root, 'data')."),
    domains: tuple[str, str] | None = typer.Option(None, help="Unpaired methods: the two domains' folder "
                                                        "names under --data, e.g. --domains horse zebra."),
    scale: int | None = typer.Option(None, help="srgan: upscaling factor, 2, 4 or 8."),
    recipe: Path | None = typer.Option(None, help="TOML preset with overrides of the method's paper defaults."),
    set_: list[str] = typer.Option([], "--set", help="Override any recipe key: --set generator.ngf=32 (repeatable)."),
    out: Path | None = typer.Option(None, help="Run directory (default: runs/<method>-<data>-<time>)."),
    steps: int | None = typer.Option(None, help="Training steps (with --resume: a new, larger total)."),
    batch_size: int | None = typer.Option(None, help="Images per step."),
    image_size: int | None = typer.Option(None, help="Side of the training crops in pixels."),
    device: str | None = typer.Option(None, help="auto, cpu or cuda."),
    seed: int | None = typer.Option(None, help="Random seed (data order, augmentation, init)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its state.pt."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe as JSON and exit."),
    max_time: str | None = typer.Option(None, help="Stop cleanly (checkpoint + resume state) after this much "
                                                   "training time: seconds, or with a unit, e.g. 90m, 2h, 45s."),
) -> None:
    """Train a translation model; writes checkpoints, samples and metrics.csv into the run directory."""
    from i2i.config import from_dict, load_preset, nest, override, parse_sets, to_json
    from i2i.methods import METHODS

    if method not in METHODS:
        raise I2IError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    method_cls = METHODS[method]

    if resume:
        if out is None:
            raise I2IError("--resume needs --out RUN_DIR (the run to continue)")
        extra = [name for name, value in (("--data", data), ("--domains", domains), ("--scale", scale),
                                          ("--recipe", recipe),
                                          ("--batch-size", batch_size),
                                          ("--image-size", image_size), ("--seed", seed)) if value is not None]
        if extra or set_:
            raise I2IError(f"--resume continues with the run's own recipe.json; drop {', '.join(extra + ['--set'] * bool(set_))}")
        recipe_path = out / "recipe.json"
        if not recipe_path.is_file() or not (out / "state.pt").is_file():
            raise I2IError(f"{out} is not a resumable run (needs recipe.json and state.pt)")
        saved = json.loads(recipe_path.read_text())
        if saved.get("method") != method:
            raise I2IError(f"{out} is a {saved.get('method')} run, not {method}")
        resolved = from_dict(method_cls.Recipe, _upgrade(saved))
        changes = {"steps": steps} if steps is not None else {}
        if device is not None:
            changes["device"] = device
        resolved = override(resolved, changes)
    else:
        resolved = method_cls.Recipe()
        if recipe is not None:
            preset = load_preset(recipe)
            preset_method = preset.pop("method", method)
            if preset_method != method:
                raise I2IError(f"{recipe} is a {preset_method} recipe, not {method}")
            resolved = override(resolved, preset)
        flags = {"steps": steps, "batch_size": batch_size, "image_size": image_size, "device": device, "seed": seed}
        changes = {key: value for key, value in flags.items() if value is not None}
        if data is not None:
            changes["data"] = {"root": str(data)}
        if domains is not None:
            if method_cls.data_kind != "unpaired":
                raise I2IError(f"--domains is for unpaired methods; {method} reads paired A/B data "
                               f"(choose the direction with --set data.direction=BtoA)")
            changes.setdefault("data", {})["domains"] = list(domains)
        if scale is not None:
            if not hasattr(resolved, "scale"):
                raise I2IError(f"--scale is for super-resolution (srgan); {method} keeps the image size")
            changes["scale"] = scale
        resolved = override(resolved, changes)
        resolved = override(resolved, parse_sets(set_))
        resolved = override(resolved, nest({"method": method}))

    instance = method_cls(resolved)
    resolved = instance.recipe  # with derived settings filled in (e.g. the U-Net depth)
    instance.validate()
    if dry_run:
        typer.echo(to_json(resolved))
        return

    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{method}-{Path(resolved.data.root).name or 'data'}-{stamp}"
    if not resume and (out / "state.pt").exists():
        raise I2IError(f"{out} already holds a run; continue it with --resume or choose another --out")

    from i2i.train.trainer import Trainer

    trainer = Trainer(instance, out, max_time=parse_duration(max_time) if max_time is not None else None)
    if resume:
        trainer.resume()
        if trainer.step >= resolved.steps:
            raise I2IError(f"{out} already finished {trainer.step} steps; pass a larger --steps to train on")
    finished = trainer.fit()
    trainer.dist.close()
    if not trainer.dist.is_main:
        return
    checkpoint = sorted((out / "checkpoints").glob("step_*.safetensors"))[-1]
    typer.echo(f"{'trained' if finished else 'stopped after'} {trainer.step} steps → {checkpoint}")
    if not finished and not trainer.stopped_by_time:  # --max-time is a planned stop: exit 0
        raise typer.Exit(130)


def parse_duration(text: str) -> float:
    """'90' or '90s' → 90.0, '15m' → 900.0, '2h' → 7200.0; I2IError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        raise I2IError(f"--max-time {text!r}: give seconds or a number with s, m or h (e.g. 90m)") from None
    if seconds <= 0:
        raise I2IError(f"--max-time must be positive, got {text!r}")
    return seconds


def _upgrade(saved: dict) -> dict:
    """A recipe.json written before `gan_objective` became `gan.objective` (and FUNIT's R1 weight
    `gan.r1`): the run resumes with the same settings."""
    saved = dict(saved)
    if "gan_objective" in saved:
        objective = saved.pop("gan_objective")
        saved["gan"] = {**saved.get("gan", {}), "objective": "ragan" if objective == "relativistic" else objective}
    weights = dict(saved.get("loss_weights", {}))
    if "r1_penalty" in weights:
        saved["gan"] = {**saved.get("gan", {}), "r1": weights.pop("r1_penalty")}
        saved["loss_weights"] = weights
    return saved
