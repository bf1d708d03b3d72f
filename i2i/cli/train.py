"""`i2i train METHOD`: resolve the recipe (defaults → preset → flags → --set), then run the trainer."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from i2i.cli import app
from i2i.errors import I2IError
from i2i.methods import REGISTRY, describe_methods, method_class


@app.command()
def train(
    method: str = typer.Argument(..., help=f"Method to train: {describe_methods()}."),
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
    init: Path | None = typer.Option(None, help="Start from this checkpoint or run: an i2i one or one made by "
                                     "`i2i weights import` (its generators must match the recipe's networks; "
                                     "a run directory also gives its discriminators)."),
    resume: str | None = typer.Option(None, "--resume", metavar="[auto]",
                                      help="Continue the run in --out from its state.pt (the same options may be "
                                           "given again; differing ones are refused). --resume auto: continue "
                                           "if --out has a state.pt, else start it: one command line for a job "
                                           "that is requeued any number of times."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe as JSON and exit."),
    max_time: str | None = typer.Option(None, help="Stop cleanly (checkpoint + resume state) after this much "
                                                   "training time: seconds, or with a unit, e.g. 90m, 2h, 45s."),
    max_megapixels: float | None = typer.Option(None, help="Refuse images over N megapixels (default: those whose "
                                                "decode would not fit in the memory this machine can spare)."),
) -> None:
    """Train a translation model; writes checkpoints, samples and metrics.csv into the run directory."""
    from i2i.config import to_json
    from i2i.images import limit_reads
    limit_reads(max_megapixels)  # the training data and held-out images are read through it
    if method not in REGISTRY:
        raise I2IError(f"unknown method {method!r}; choose one of: {', '.join(REGISTRY)}")
    method_cls = method_class(method)
    flags = RecipeFlags(data, domains, scale, recipe, set_, steps, batch_size, image_size, device, seed, init)
    resume = _resume_mode(resume, out)
    if resume:
        resolved = _resumed_recipe(method, method_cls, out, flags)
    else:
        resolved = _new_recipe(method, method_cls, flags)

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
    _fit(instance, out, resume, resolved.steps, parse_duration(max_time) if max_time is not None else None)


@dataclass(frozen=True)
class RecipeFlags:
    """The command's recipe options as given (None: not given)."""

    data: Path | None
    domains: tuple[str, str] | None
    scale: int | None
    recipe: Path | None
    set_: list[str]
    steps: int | None
    batch_size: int | None
    image_size: int | None
    device: str | None
    seed: int | None
    init: Path | None = None


def _resume_mode(resume: str | None, out: Path | None) -> bool:
    """--resume → True; --resume auto → whether --out holds a resume state; absent → False."""
    if resume is None:
        return False
    if resume not in ("yes", "auto"):
        raise I2IError(f"--resume takes no value or 'auto', got {resume!r}")
    if out is None:
        raise I2IError(f"--resume{' auto' if resume == 'auto' else ''} needs --out RUN_DIR (the run to continue)")
    return resume == "yes" or (out / "state.pt").is_file()


def _resumed_recipe(method: str, method_cls: type, out: Path | None, flags: RecipeFlags) -> Any:
    """--resume: the run's own recipe.json. A requeued job repeats its whole command line, so the
    recipe options may be given again: values equal to the run's are accepted, differing ones refused,
    each named with both values. --steps and --device may change."""
    from i2i.config import from_dict, override

    assert out is not None  # _resume_mode checked it
    recipe_path = out / "recipe.json"
    if not recipe_path.is_file() or not (out / "state.pt").is_file():
        raise I2IError(f"{out} is not a resumable run (needs recipe.json and state.pt)")
    saved = json.loads(recipe_path.read_text())
    if saved.get("method") != method:
        raise I2IError(f"{out} is a {saved.get('method')} run, not {method}")
    resolved = from_dict(method_cls.Recipe, _upgrade(saved))
    _refuse_changes(out, resolved, _given_recipe_values(method, flags))
    changes = {"steps": flags.steps} if flags.steps is not None else {}
    if flags.device is not None:
        changes["device"] = flags.device
    return override(resolved, changes)


def _given_recipe_values(method: str, flags: RecipeFlags) -> dict[str, Any]:
    """What the command line sets in the recipe (nested), --steps and --device aside."""
    from i2i.config import load_preset, nest, parse_sets

    values: dict[str, Any] = {}
    if flags.recipe is not None:
        values = load_preset(flags.recipe)
        if values.pop("method", method) != method:
            raise I2IError(f"{flags.recipe} is not a {method} recipe")
    dotted = {"batch_size": flags.batch_size, "image_size": flags.image_size, "seed": flags.seed,
              "scale": flags.scale, "data.root": str(flags.data) if flags.data is not None else None,
              "data.domains": list(flags.domains) if flags.domains is not None else None,
              "init": str(flags.init) if flags.init is not None else None}
    return _merge(_merge(values, nest({k: v for k, v in dotted.items() if v is not None})), parse_sets(flags.set_))


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _refuse_changes(out: Path, resolved: Any, given: dict[str, Any]) -> None:
    """One error naming every given recipe value that differs from the run's (old and new)."""
    from i2i.config import override, to_dict

    if not given:
        return
    old, new = _flat(to_dict(resolved)), _flat(to_dict(override(resolved, given)))
    changed = [f"{key} is {old.get(key)!r} in the run, {value!r} now" for key, value in new.items()
               if old.get(key) != value]
    if changed:
        raise I2IError(f"--resume continues {out} with its own recipe.json, but {'; '.join(changed)}: drop or "
                       f"correct those options, or start a new run with another --out")


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and key != "loss_weights":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _new_recipe(method: str, method_cls: type, flags: RecipeFlags) -> Any:
    """A new run's recipe: the method's defaults → --recipe preset → flags → --set."""
    from i2i.config import load_preset, nest, override, parse_sets
    from i2i.data.kinds import DataKind

    resolved = method_cls.Recipe()
    if flags.recipe is not None:
        preset = load_preset(flags.recipe)
        preset_method = preset.pop("method", method)
        if preset_method != method:
            raise I2IError(f"{flags.recipe} is a {preset_method} recipe, not {method}")
        resolved = override(resolved, preset)
    given = {"steps": flags.steps, "batch_size": flags.batch_size, "image_size": flags.image_size,
             "device": flags.device, "seed": flags.seed, "init": str(flags.init) if flags.init else None}
    changes = {key: value for key, value in given.items() if value is not None}
    if flags.data is not None:
        changes["data"] = {"root": str(flags.data)}
    if flags.domains is not None:
        if method_cls.data_kind != DataKind.UNPAIRED:
            raise I2IError(f"--domains is for unpaired methods; {method} reads paired A/B data "
                           f"(choose the direction with --set data.direction=BtoA)")
        changes.setdefault("data", {})["domains"] = list(flags.domains)
    if flags.scale is not None:
        if not hasattr(resolved, "scale"):
            raise I2IError(f"--scale is for super-resolution (srgan); {method} keeps the image size")
        changes["scale"] = flags.scale
    resolved = override(resolved, changes)
    resolved = override(resolved, parse_sets(flags.set_))
    return override(resolved, nest({"method": method}))


def _fit(instance: Any, out: Path, resume: bool, steps: int, max_time: float | None) -> None:
    """Train (or continue) the run in `out` and report the last checkpoint; exit status 130 when
    interrupted (a --max-time stop is planned: status 0)."""
    from i2i.train.trainer import Trainer

    trainer = Trainer(instance, out, max_time=max_time)
    if not resume:  # a run killed before its first checkpoint left rows that this fresh start replaces
        trainer.metrics.truncate_after(0)
        trainer.held_out.log.truncate_after(0)
    if resume:
        trainer.resume()
        if trainer.step >= steps:
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
