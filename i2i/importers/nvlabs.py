"""State dicts of the official MUNIT (NVlabs/MUNIT) and FUNIT (NVlabs/FUNIT) generators.

Both projects build a generator from the same bricks, each an `nn.Sequential` called `model`:

- `Conv2dBlock`: `.pad`, `.conv` (Conv2d with bias), `.norm` (InstanceNorm without parameters,
  MUNIT's `LayerNorm` with `gamma`/`beta`, or `AdaptiveInstanceNorm2d` with two unused buffers
  `running_mean`/`running_var`), `.activation`;
- `ResBlocks.model.<i>` = `ResBlock`, whose `model.0` / `model.1` are its two Conv2dBlocks;
- `MLP.model.<k>` = `LinearBlock` with `.fc`.

A MUNIT `AdaINGen` (one domain) and a FUNIT `FewShotGen` have

    enc_style | enc_class_model   model.0 conv 7×7 → model.1 … model.n 4×4/2 convs → pool →
                                  model.(n+2) Conv2d 1×1 (a bare Conv2d: `.weight`, not `.conv.weight`)
    enc_content                   model.0 conv 7×7 → model.1 … model.d 4×4/2 convs → model.(d+1) ResBlocks
    dec                           model.0 ResBlocks (AdaIN) → per upsampling: Upsample, Conv2dBlock 5×5
                                  (MUNIT: LayerNorm; FUNIT: InstanceNorm) → model.(2d+1) conv 7×7 + tanh
    mlp                           model.0 … model.(k−1) LinearBlocks → every AdaIN's (shift, scale)

The functions here map those names onto i2i's `MUNITGenerator` / `FUNITGenerator` and infer every size
from the tensors. They are strict: every i2i tensor must be filled and every official tensor used,
except normalisation running statistics — the AdaIN layers' dummy buffers, and the InstanceNorm
statistics that checkpoints saved by the `track_running_stats=True` revision of MUNIT carry (the current
official code builds InstanceNorm without them: outputs follow each image's own statistics).
Files are read with `torch.load(weights_only=True)` only: no pickled code runs.

What the tensors cannot show is read from the trainer's `config.yaml` (`find_run_config`): MUNIT's
`AdaINGen` builds every Conv2dBlock (but the output's tanh) and the MLP's LinearBlocks with `gen.activ`
and every convolution with `gen.pad_type`; its sizes (`gen.dim`, …, `input_dim_a`/`_b`) are checked
against the tensors. A PReLU shows in the tensors (one shared slope per layer, `….activation.weight`;
i2i's PReLU keeps one per channel, all set to it). FUNIT's `FewShotGen` hard-codes ReLU and reflection
padding, so its config.yaml only has sizes to check.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from i2i.importers.reading import flatten
from i2i.models import FUNITConfig, FUNITGenerator, MUNITConfig, MUNITGenerator

RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def load_official(path: str | Path) -> dict[str, Tensor]:
    """Read an official `gen_*.pt` safely into one flat dict of tensors.

    Nested dicts become dotted prefixes (MUNIT's {'a': …, 'b': …} → `a.enc_style…`, `b.…`; FUNIT's
    {'gen': …, 'gen_test': …} → `gen.…`, `gen_test.…`); DataParallel `module.` levels are dropped.
    Raises ValueError when the file holds anything but (nested) dicts of tensors.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    return flatten(state, strict=True)


def _sub_state(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) + 1:]: value for key, value in state.items() if key.startswith(f"{prefix}.")}


# -- layouts ---------------------------------------------------------------------------------------
def _tensor(state: dict[str, Tensor], key: str, ndim: int) -> Tensor:
    if key not in state:
        raise ValueError(f"official state dict lacks {key}")
    tensor = state[key]
    if tensor.dim() != ndim:
        raise ValueError(f"{key} has shape {tuple(tensor.shape)}, expected {ndim} dimensions")
    return tensor


def _count(state: dict[str, Tensor], pattern: str, start: int = 0) -> int:
    """How many consecutive indices i = start, start+1, … have `pattern.format(i)` in `state`."""
    i = start
    while pattern.format(i) in state:
        i += 1
    return i - start


def _content_encoder(state: dict[str, Tensor], official: str) -> tuple[dict[str, str], dict[str, int]]:
    """enc_content: 7×7 stem, `downsample` stride-2 convs, ResBlocks of `res_blocks` blocks."""
    stem = _tensor(state, f"{official}.model.0.conv.weight", 4)
    downsample = _count(state, f"{official}.model.{{}}.conv.weight", start=1)
    res = f"{official}.model.{downsample + 1}.model"
    res_blocks = _count(state, f"{res}.{{}}.model.0.conv.weight")
    mapping = {"content_encoder.stem.conv": f"{official}.model.0.conv",
               "content_encoder.stem.act": f"{official}.model.0.activation"}
    for i in range(downsample):
        mapping[f"content_encoder.down.{i}.conv"] = f"{official}.model.{i + 1}.conv"
        mapping[f"content_encoder.down.{i}.act"] = f"{official}.model.{i + 1}.activation"
    for j in range(res_blocks):
        mapping[f"content_encoder.blocks.{j}.conv1.conv"] = f"{res}.{j}.model.0.conv"
        mapping[f"content_encoder.blocks.{j}.conv1.act"] = f"{res}.{j}.model.0.activation"
        mapping[f"content_encoder.blocks.{j}.conv2.conv"] = f"{res}.{j}.model.1.conv"
    sizes = {"in_channels": int(stem.shape[1]), "dim": int(stem.shape[0]), "content_downsample": downsample,
             "content_res_blocks": res_blocks}
    return mapping, sizes


def _code_encoder(state: dict[str, Tensor], official: str, ours: str) -> tuple[dict[str, str], int, int]:
    """enc_style / enc_class_model: 7×7 stem, stride-2 convs, pooling, 1×1 conv to the code.
    Returns the mapping, the number of stride-2 convs and the code length."""
    _tensor(state, f"{official}.model.0.conv.weight", 4)
    downsample = _count(state, f"{official}.model.{{}}.conv.weight", start=1)
    head = _tensor(state, f"{official}.model.{downsample + 2}.weight", 4)  # model.(downsample+1): pooling
    mapping = {f"{ours}.stem.conv": f"{official}.model.0.conv",
               f"{ours}.stem.act": f"{official}.model.0.activation",
               f"{ours}.head": f"{official}.model.{downsample + 2}"}
    for i in range(downsample):
        mapping[f"{ours}.down.{i}.conv"] = f"{official}.model.{i + 1}.conv"
        mapping[f"{ours}.down.{i}.act"] = f"{official}.model.{i + 1}.activation"
    return mapping, downsample, int(head.shape[0])


def _decoder(state: dict[str, Tensor], res_blocks: int, upsample: int,
             layer_norm: bool) -> tuple[dict[str, str], int]:
    """dec: AdaIN ResBlocks, `upsample` × (Upsample, Conv2dBlock 5×5), 7×7 conv.
    Returns the mapping and the number of output channels."""
    mapping = {}
    for j in range(res_blocks):
        mapping[f"decoder.blocks.{j}.conv1.conv"] = f"dec.model.0.model.{j}.model.0.conv"
        mapping[f"decoder.blocks.{j}.act"] = f"dec.model.0.model.{j}.model.0.activation"
        mapping[f"decoder.blocks.{j}.conv2.conv"] = f"dec.model.0.model.{j}.model.1.conv"
    for u in range(upsample):
        mapping[f"decoder.up.{u}.conv.conv"] = f"dec.model.{2 + 2 * u}.conv"  # dec.model.(1+2u): Upsample
        mapping[f"decoder.up.{u}.conv.act"] = f"dec.model.{2 + 2 * u}.activation"
        if layer_norm:
            mapping[f"decoder.up.{u}.conv.norm"] = f"dec.model.{2 + 2 * u}.norm"
    head = f"dec.model.{1 + 2 * upsample}"
    mapping["decoder.head.conv"] = f"{head}.conv"
    return mapping, int(_tensor(state, f"{head}.conv.weight", 4).shape[0])


def _mlp(state: dict[str, Tensor]) -> tuple[dict[str, str], dict[str, int]]:
    """mlp.model.<k>.fc → decoder.mlp.layers.<2k>, its activation → layers.<2k+1> (i2i's activations are
    modules of the same Sequential)."""
    first = _tensor(state, "mlp.model.0.fc.weight", 2)
    blocks = _count(state, "mlp.model.{}.fc.weight")
    mapping = {f"decoder.mlp.layers.{2 * k}": f"mlp.model.{k}.fc" for k in range(blocks)}
    for k in range(blocks - 1):
        mapping[f"decoder.mlp.layers.{2 * k + 1}"] = f"mlp.model.{k}.activation"
    return mapping, {"mlp_dim": int(first.shape[0]), "mlp_blocks": blocks, "code_in": int(first.shape[1])}


def _load_mapped(module: nn.Module, state: dict[str, Tensor], mapping: dict[str, str], what: str) -> None:
    """Copy official tensors into `module` by module-prefix `mapping`, strictly (see the module docstring)."""
    ours = module.state_dict()
    renamed: dict[str, Tensor] = {}
    used: set[str] = set()
    missing, mismatched = [], []
    for key, tensor in ours.items():
        head, _, leaf = key.rpartition(".")
        if head not in mapping:
            missing.append(f"(nothing mapped to {key})")
            continue
        source = f"{mapping[head]}.{leaf}"
        if source not in state:
            missing.append(source)
            continue
        used.add(source)
        if state[source].shape == tensor.shape:
            renamed[key] = state[source]
        elif isinstance(module.get_submodule(head), nn.PReLU) and state[source].shape == (1,):
            renamed[key] = state[source].expand(tensor.shape).clone()   # one shared slope → one per channel
        else:
            mismatched.append(f"{source} {tuple(state[source].shape)} (i2i's {key} is {tuple(tensor.shape)})")
    leftover = [k for k in state if k not in used and k.rpartition(".")[2] not in RUNNING_STATISTICS]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if mismatched:
        problems.append(f"unexpected shapes {', '.join(mismatched[:4])}{' …' if len(mismatched) > 4 else ''}")
    if leftover:
        problems.append(f"unmapped keys {', '.join(leftover[:8])}{' …' if len(leftover) > 8 else ''}")
    if problems:
        raise ValueError(f"not an official {what} state dict: {'; '.join(problems)}")
    module.load_state_dict(renamed, strict=True)


def _check_code(code_dim: int, mlp_in: int, encoder: str) -> None:
    if code_dim != mlp_in:
        raise ValueError(f"{encoder} makes {code_dim}-d codes but mlp.model.0.fc takes {mlp_in} inputs")


# -- generators ------------------------------------------------------------------------------------
def munit_generator_from_official(state: dict[str, Tensor], activation: str = "relu",
                                  pad_type: str = "reflect") -> MUNITGenerator:
    """One domain's MUNIT `AdaINGen` state dict (`state_dict['a']` or `['b']` of a `gen_*.pt`) → an
    i2i `MUNITGenerator` with its weights, built with the run's `gen.activ` / `gen.pad_type` (the
    tensors do not show them). Raises ValueError naming what does not fit."""
    content_map, sizes = _content_encoder(state, "enc_content")
    style_map, style_downsample, style_dim = _code_encoder(state, "enc_style", "style_encoder")
    mlp_map, mlp = _mlp(state)
    _check_code(style_dim, mlp["code_in"], "enc_style")
    decoder_map, out_channels = _decoder(state, sizes["content_res_blocks"], sizes["content_downsample"],
                                         layer_norm=True)
    config = MUNITConfig(**sizes, out_channels=out_channels, style_dim=style_dim, mlp_dim=mlp["mlp_dim"],
                         mlp_blocks=mlp["mlp_blocks"], style_downsample=style_downsample, up_norm="layer",
                         activation=activation, mlp_activation=activation, pad_type=pad_type)
    generator = MUNITGenerator(config)
    _load_mapped(generator, state, {**content_map, **style_map, **decoder_map, **mlp_map},
                 "NVlabs/MUNIT AdaINGen")
    return generator


def munit_generators_from_official(state: dict[str, Tensor], activation: str = "relu",
                                   pad_type: str = "reflect") -> tuple[MUNITGenerator, MUNITGenerator]:
    """Both domains of a MUNIT `gen_*.pt` (flattened by `load_official`: `a.…` and `b.…`, or the
    trainer's own `gen_a.…` / `gen_b.…`) → (generator of domain a, generator of domain b)."""
    for a, b in (("a", "b"), ("gen_a", "gen_b")):
        state_a, state_b = _sub_state(state, a), _sub_state(state, b)
        if state_a and state_b:
            return (munit_generator_from_official(state_a, activation, pad_type),
                    munit_generator_from_official(state_b, activation, pad_type))
    found = ", ".join(sorted({key.split(".")[0] for key in state})[:5]) or "no keys"
    raise ValueError(f"expected the generators of both domains under 'a' and 'b' (as MUNIT's trainer saves "
                     f"gen_*.pt); found {found}")


def select_funit_state(state: dict[str, Tensor]) -> tuple[str | None, dict[str, Tensor]]:
    """The FewShotGen state to import from a FUNIT file: `gen_test.…` (the moving average of the
    generator, what the official test scripts translate with) when present, else `gen.…`, else the
    dict itself. Returns (the prefix used or None, the unprefixed state)."""
    for prefix in ("gen_test", "gen"):
        sub = _sub_state(state, prefix)
        if sub:
            return prefix, sub
    return None, state


def funit_generator_from_official(state: dict[str, Tensor]) -> FUNITGenerator:
    """A FUNIT `FewShotGen` state dict — bare, or a whole `gen_*.pt` ({'gen', 'gen_test'}, nested or
    flattened), of which `gen_test` is taken — → an i2i `FUNITGenerator` (ReLU, reflection padding,
    as FewShotGen hard-codes them). Raises ValueError."""
    if any(isinstance(value, dict) for value in state.values()):
        state = flatten(state, strict=True)
    _, state = select_funit_state(state)
    content_map, sizes = _content_encoder(state, "enc_content")
    class_map, class_downsample, class_dim = _code_encoder(state, "enc_class_model", "class_encoder")
    mlp_map, mlp = _mlp(state)
    _check_code(class_dim, mlp["code_in"], "enc_class_model")
    decoder_map, out_channels = _decoder(state, sizes["content_res_blocks"], sizes["content_downsample"],
                                         layer_norm=False)
    config = FUNITConfig(**sizes, out_channels=out_channels, class_dim=class_dim, mlp_dim=mlp["mlp_dim"],
                         mlp_blocks=mlp["mlp_blocks"], class_downsample=class_downsample, up_norm="instance",
                         activation="relu", pad_type="reflect")
    generator = FUNITGenerator(config)
    _load_mapped(generator, state, {**content_map, **class_map, **decoder_map, **mlp_map},
                 "NVlabs/FUNIT FewShotGen")
    return generator


