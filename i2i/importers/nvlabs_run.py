"""MUNIT/FUNIT runs as their NVlabs trainers configure them: the run's config.yaml (beside its
`checkpoints/` folder, or `--config`) gives what the tensors cannot show — `gen.activ`, `gen.pad_type` —
and its sizes are checked against the tensors; unknown settings assume the released configs' and say
so. The state-dict mapping itself is `nvlabs.py`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor

from i2i.errors import I2IError
from i2i.importers.nvlabs import (
    RUNNING_STATISTICS,
    funit_generator_from_official,
    munit_generators_from_official,
    select_funit_state,
)
from i2i.models import FUNITGenerator, MUNITConfig, MUNITGenerator


RUN_CONFIG = "config.yaml"          # train.py copies --config to outputs/NAME/config.yaml
CHECKPOINTS = "checkpoints"         # … and saves outputs/NAME/checkpoints/gen_*.pt
# Conv2dBlock/LinearBlock activations of MUNIT's networks.py; all but selu exist in i2i's layer factory
# (lrelu: slope 0.2 in both).
MUNIT_ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
MUNIT_PADDINGS = ("reflect", "replicate", "zero")
# What MUNIT's configs/*.yaml use (edges2shoes, edges2handbags, summer2winter…; synthia2cityscape pads zero).
RELEASED = {"activ": "relu", "pad_type": "reflect"}
# config.yaml key → the config field the tensors give it.
MUNIT_SIZES = {"dim": "dim", "style_dim": "style_dim", "n_downsample": "content_downsample",
               "n_res": "content_res_blocks", "mlp_dim": "mlp_dim"}
FUNIT_SIZES = {"nf": "dim", "nf_mlp": "mlp_dim", "latent_dim": "class_dim",
               "n_res_blks": "content_res_blocks", "n_mlp_blks": "mlp_blocks",
               "n_downs_content": "content_downsample", "n_downs_class": "class_downsample"}
PRELU_SLOPE = re.compile(r"(^|\.)(enc_content|enc_style|enc_class_model|dec|mlp)\..*\.activation\.weight$")
ADAIN_BUFFER = re.compile(r"(^|\.)dec\.model\.0\.")     # the decoder's AdaIN ResBlocks
# -- the run's config.yaml -------------------------------------------------------------------------
def find_run_config(weights: Path, given: Path | None = None) -> Path | None:
    """The trainer's config.yaml for `weights`: `given` (--config) when set; else outputs/NAME/config.yaml
    when `weights` lies in the run's checkpoints/ folder; else a config.yaml in the weights file's own
    folder; else None. Raises I2IError for a `given` file that does not exist."""
    if given is not None:
        if not given.is_file():
            raise I2IError(f"--config {given} does not exist")
        return given
    folders = ([weights.parent.parent] if weights.parent.name == CHECKPOINTS else []) + [weights.parent]
    return next((folder / RUN_CONFIG for folder in folders if (folder / RUN_CONFIG).is_file()), None)
def read_run_config(path: Path) -> dict[str, Any]:
    """An NVlabs trainer config (yaml.safe_load) with its `gen:` section. Raises I2IError."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise I2IError(f"{path}: not a readable YAML file ({str(error).splitlines()[0]})") from None
    if not isinstance(values, dict) or not isinstance(values.get("gen"), dict):
        raise I2IError(f"{path}: not an NVlabs MUNIT/FUNIT trainer config (it has no gen: section); "
                       f"give the run's own with --config FILE")
    return values


def _check_sizes(path: Path, weights: Path, values: dict[str, Any], keys: dict[str, str], config: Any,
                 prefix: str = "gen.") -> None:
    for key, field_name in keys.items():
        if key in values and values[key] != getattr(config, field_name):
            raise I2IError(f"{path}: {prefix}{key} is {values[key]!r}, but the tensors of {weights.name} "
                           f"have {getattr(config, field_name)}")


def _munit_layers(state: dict[str, Tensor], path: Path | None, gen: dict[str, Any],
                  weights: Path) -> tuple[str, str]:
    """(activation, padding) from gen.activ / gen.pad_type, checked against the PReLU slopes the tensors
    have or lack; without a config: PReLU when the slopes are there, else the released ReLU, and
    reflection padding."""
    slopes = [key for key in state if PRELU_SLOPE.search(key)]
    if path is None:
        return ("prelu" if slopes else RELEASED["activ"]), RELEASED["pad_type"]
    settings = {}
    for key, choices in (("activ", MUNIT_ACTIVATIONS), ("pad_type", MUNIT_PADDINGS)):
        if key not in gen:
            raise I2IError(f"{path}: gen.{key} is missing (MUNIT's AdaINGen reads it)")
        if gen[key] not in choices:
            raise I2IError(f"{path}: gen.{key} {gen[key]!r} is not one of MUNIT's {', '.join(choices)}")
        settings[key] = gen[key]
    activation = settings["activ"]
    if activation == "selu":
        raise I2IError(f"{path}: gen.activ selu: i2i's layer factory has no SELU, so this generator cannot "
                       f"be imported exactly")
    if activation == "prelu" and not slopes:
        raise I2IError(f"{path}: gen.activ is 'prelu', but the tensors of {weights.name} have no PReLU "
                       f"slopes (…activation.weight)")
    if activation != "prelu" and slopes:
        raise I2IError(f"{path}: gen.activ is {activation!r}, but the tensors of {weights.name} have PReLU "
                       f"slopes ({slopes[0]})")
    return activation, settings["pad_type"]


def _statistics_notes(state: dict[str, Tensor]) -> list[str]:
    """The note on InstanceNorm running statistics (not the AdaIN layers' dummy buffers), if there are any."""
    found = [key for key in state
             if key.rpartition(".")[2] in RUNNING_STATISTICS and not ADAIN_BUFFER.search(key)]
    if not found:
        return []
    note = (f"note: dropped {len(found)} InstanceNorm running statistics ({found[0]}, …) of the 2018 "
            f"track_running_stats revision: outputs follow each image's instance statistics, as upstream's "
            f"test script computes them")
    return [note]


def _check_domains(weights: Path, config_a: MUNITConfig, config_b: MUNITConfig) -> None:
    """A direction joins one domain's content encoder to the other's decoder: the two generators must
    agree in everything but their images' channels, which may differ only as a grey and an RGB domain."""
    a, b = config_a.in_channels, config_b.in_channels
    if replace(config_b, in_channels=a, out_channels=config_a.out_channels) != config_a:
        raise I2IError(f"{weights}: the generators of domains a and b differ in shape ({config_a} vs "
                       f"{config_b}); an i2i MUNIT direction needs both alike")
    if a != b and {a, b} != {1, 3}:
        raise I2IError(f"{weights}: domain a has {a}-channel images and domain b {b}-channel ones; i2i "
                       f"translates RGB images, of which a domain may take the luma (1 channel)")


def import_munit(state: dict[str, Tensor], weights: Path,
                 config: Path | None = None) -> tuple[MUNITGenerator, MUNITGenerator, list[str]]:
    """Both domains of a flattened MUNIT `gen_*.pt`, built as the run's config.yaml (`config`, or the one
    `find_run_config` finds) says, its sizes checked against the tensors → (gen_a, gen_b, notes).
    Raises I2IError for a config that disagrees with the tensors or domains that cannot be joined,
    ValueError for tensors that do not fit."""
    path = find_run_config(weights, config)
    run = read_run_config(path) if path is not None else {"gen": {}}
    activation, pad_type = _munit_layers(state, path, run["gen"], weights)
    gen_a, gen_b = munit_generators_from_official(state, activation, pad_type)
    _check_domains(weights, gen_a.config, gen_b.config)
    notes = []
    if path is None:
        assumed = ("activ prelu (its slopes are in the tensors) and assumed" if activation == "prelu" else
                   f"assumed activ {activation} and")
        notes.append(f"note: no {RUN_CONFIG} beside {weights.name}: {assumed} pad_type {pad_type} (the "
                     f"released configs'); give --config FILE if the run used others")
    else:
        _check_sizes(path, weights, run["gen"], MUNIT_SIZES, gen_a.config)
        for key, generator in (("input_dim_a", gen_a), ("input_dim_b", gen_b)):
            _check_sizes(path, weights, run, {key: "in_channels"}, generator.config, prefix="")
        notes.append(f"note: activ {activation} and pad_type {pad_type} from {path}")
    return gen_a, gen_b, notes + _statistics_notes(state)


def import_funit(state: dict[str, Tensor], weights: Path,
                 config: Path | None = None) -> tuple[FUNITGenerator, list[str]]:
    """A FUNIT `gen_*.pt` (flattened) → (its FewShotGen, notes); the sizes the run's config.yaml gives
    are checked against the tensors. Raises I2IError / ValueError as `import_munit`."""
    path = find_run_config(weights, config)
    generator = funit_generator_from_official(state)
    notes = []
    if path is not None:
        gen = read_run_config(path)["gen"]
        _check_sizes(path, weights, gen, FUNIT_SIZES, generator.config)
        ignored = [f"{key} {gen[key]}" for key in ("activ", "pad_type") if key in gen]
        if ignored:
            notes.append(f"note: {path} sets gen.{', gen.'.join(ignored)}, which FUNIT's FewShotGen does not "
                         f"read (it builds relu and reflect padding): ignored")
    return generator, notes + _statistics_notes(select_funit_state(state)[1])
