"""State dicts of the super-resolution networks people download → i2i's own networks.

Families (`SR_FAMILIES`): ESRGAN's RRDBNet in its three key layouts (BasicSR/Real-ESRGAN, new ESRGAN,
old ESRGAN) → `RRDBNet`; Real-ESRGAN's SRVGGNetCompact → `SRVGGNet`; BasicSR's MSRResNet → `MSRResNet`.
Every size (width, depth, growth, channels, scale, Real-ESRGAN's pixel-unshuffle) is read from the
tensor shapes, so a released file needs no flags. The networks take RGB in [0, 1] unnormalised, as
upstream: the checkpoint's Preprocess has mean 0, std 1. Loading is strict: every i2i tensor must be
found with the same shape and every upstream tensor used, or a ValueError names the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from torch import Tensor, nn

from i2i.models import MSRResNet, MSRResNetConfig, RRDBNet, RRDBNetConfig, SRVGGNet, SRVGGNetConfig

SR_FAMILIES: dict[str, str] = {
    "esrgan-basicsr": "RRDBNet, BasicSR/Real-ESRGAN key layout: body.N.rdbK, conv_body (xinntao/Real-ESRGAN)",
    "esrgan-new": "RRDBNet, new ESRGAN key layout: RRDB_trunk.N.RDBK, trunk_conv (xinntao/ESRGAN)",
    "esrgan-old": "RRDBNet, old ESRGAN key layout: model.0, model.1.sub.N.RDBK (xinntao/ESRGAN old_arch)",
    "srvgg": "SRVGGNetCompact: realesr-general-x4v3, realesr-animevideov3 (xinntao/Real-ESRGAN)",
    "msrresnet": "MSRResNet, BasicSR's modified SRResNet without BN (xinntao/BasicSR)",
}

# Per RRDB layout: where each i2i layer's tensors live. `block(n, k, j)` is the j-th (1…5) conv of the
# k-th (1…3) dense block of RRDB n; `up(i)` the i-th (1-based) ×2 conv; old ESRGAN numbers its
# top-level Sequential, so its trunk, HR and last convs depend on the depth and the stage count.
RRDB_LAYOUTS: dict[str, dict[str, Any]] = {
    "esrgan-basicsr": {
        "blocks": r"body\.(\d+)\.rdb\d\.", "ups": r"conv_up(\d+)\.weight",
        "first": lambda: "conv_first", "block": lambda n, k, j: f"body.{n}.rdb{k}.conv{j}",
        "trunk": lambda blocks: "conv_body", "up": lambda i: f"conv_up{i}",
        "hr": lambda stages: "conv_hr", "last": lambda stages: "conv_last",
    },
    "esrgan-new": {
        "blocks": r"RRDB_trunk\.(\d+)\.RDB\d\.", "ups": r"upconv(\d+)\.weight",
        "first": lambda: "conv_first", "block": lambda n, k, j: f"RRDB_trunk.{n}.RDB{k}.conv{j}",
        "trunk": lambda blocks: "trunk_conv", "up": lambda i: f"upconv{i}",
        "hr": lambda stages: "HRconv", "last": lambda stages: "conv_last",
    },
    # old ESRGAN: 0 conv, 1 shortcut(RRDBs, trunk conv), (upsample, conv, lrelu) × S, HR conv, lrelu, conv
    "esrgan-old": {
        "blocks": r"model\.1\.sub\.(\d+)\.RDB\d\.", "ups": None,
        "first": lambda: "model.0", "block": lambda n, k, j: f"model.1.sub.{n}.RDB{k}.conv{j}.0",
        "trunk": lambda blocks: f"model.1.sub.{blocks}", "up": lambda i: f"model.{3 * i}",
        "hr": lambda stages: f"model.{3 * stages + 2}", "last": lambda stages: f"model.{3 * stages + 4}",
    },
}


def unwrap_state(raw: dict) -> dict[str, Tensor]:
    """The network's tensors in a downloaded file: BasicSR's `params_ema` (the averaged weights
    Real-ESRGAN's inference uses) over `params` over the dict itself; a DataParallel `module.`
    prefix stripped. Raises ValueError when that is not a dict of tensors."""
    state = raw
    if isinstance(raw, dict):
        state = next((raw[key] for key in ("params_ema", "params") if key in raw), raw)
    if not isinstance(state, dict):  # a file's content, not a caller's mistake: the importers' ValueError
        kind = type(state).__name__
        raise ValueError(f"expected a state dict (a dict of tensors), got {kind}")  # noqa: TRY004
    not_tensors = [key for key, value in state.items() if not isinstance(value, Tensor)]
    if not_tensors:
        raise ValueError(f"expected a state dict of tensors; not tensors: {not_tensors[:5]}")
    return {key.removeprefix("module."): value for key, value in state.items()}


def detect_sr(state: dict[str, Tensor]) -> str | None:
    """The `SR_FAMILIES` id whose key layout `state` has, or None when it fits none."""
    def has(*keys: str) -> bool:
        return all(key in state for key in keys)

    if has("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight"):
        return "esrgan-basicsr"
    if has("conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight", "conv_last.weight"):
        return "esrgan-new"
    if has("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"):
        return "esrgan-old"
    if has("conv_first.weight", "upconv1.weight", "conv_hr.weight", "conv_last.weight"):
        return "msrresnet"
    if has("body.0.weight", "body.1.weight") and state["body.0.weight"].dim() == 4 \
            and state["body.1.weight"].dim() == 1:
        return "srvgg"  # body.1 is a PReLU: one slope per channel
    return None


def sr_network(state: dict[str, Tensor], family: str) -> tuple[nn.Module, dict[str, Any]]:
    """The i2i network (an `ARCHITECTURES` class) holding `state`'s weights, loaded strictly, in eval
    mode, and {"family": id, "scale": int, "sizes": {what was read from the shapes}}. Raises
    ValueError for an unknown family or a key or shape that does not fit it."""
    if family not in BUILDERS:
        raise ValueError(f"unknown SR family {family!r}; choose one of: {', '.join(SR_FAMILIES)}")
    network, mapping = BUILDERS[family](state, family)
    _load_mapped(network, state, mapping, family)
    sizes = asdict(network.config)
    for key in ("scale", "residual_scale", "init_scale"):   # scale: its own entry; the others are not read
        sizes.pop(key, None)
    return network.eval(), {"family": family, "scale": network.config.scale, "sizes": sizes}


# -- RRDBNet (ESRGAN, Real-ESRGAN) --------------------------------------------------------------------

def _rrdb(state: dict[str, Tensor], family: str) -> tuple[nn.Module, dict[str, str]]:
    layout = RRDB_LAYOUTS[family]
    if any(".conv1x1." in key for key in state):
        raise ValueError(f"{family}: ESRGAN+ dense blocks (conv1x1 keys) are not supported")
    num_blocks = _count(state, layout["blocks"])
    stages = _rrdb_stages(state, family)
    first = _weight(state, f"{layout['first']()}.weight", family)
    last = _weight(state, f"{layout['last'](stages)}.weight", family)
    growth = _weight(state, f"{layout['block'](0, 1, 1)}.weight", family).shape[0] if num_blocks else 32
    in_total, out_channels = first.shape[1], last.shape[0]
    # Real-ESRGAN ×2 / ×1 (BasicSR scale 2 / 1): the input is pixel-unshuffled by 2 / 4 first, so the
    # head sees in_channels × 4 / × 16. An image network has out_channels == in_channels, hence the test.
    unshuffle = {4 * out_channels: 2, 16 * out_channels: 4}.get(in_total, 1)
    if 2 ** stages % unshuffle:
        raise ValueError(f"{family}: {stages} ×2 stage(s) after a pixel-unshuffle by {unshuffle} is not an "
                         f"integer scale")
    config = RRDBNetConfig(in_channels=in_total // unshuffle ** 2, out_channels=out_channels,
                           scale=2 ** stages // unshuffle, channels=first.shape[0], growth=growth,
                           num_blocks=num_blocks, unshuffle=unshuffle)
    network = _build(RRDBNet, config, family)
    mapping = {"head.conv": layout["first"](), "trunk.conv": layout["trunk"](num_blocks),
               "hr.conv": layout["hr"](stages), "tail.conv": layout["last"](stages)}
    for i in range(stages):
        mapping[f"upsample.{i}.conv.conv"] = layout["up"](i + 1)
    for n in range(num_blocks):
        for k in range(3):
            for j in range(4):
                mapping[f"blocks.{n}.blocks.{k}.convs.{j}.conv"] = layout["block"](n, k + 1, j + 1)
            mapping[f"blocks.{n}.blocks.{k}.fuse.conv"] = layout["block"](n, k + 1, 5)
    return network, mapping


def _rrdb_stages(state: dict[str, Tensor], family: str) -> int:
    """How many nearest ×2 + conv stages the file has."""
    pattern = RRDB_LAYOUTS[family]["ups"]
    if pattern is not None:  # conv_up1, conv_up2, …: numbered from 1
        return max((int(m.group(1)) for key in state if (m := re.fullmatch(pattern, key))), default=0)
    # old ESRGAN: the last top-level index is 3·stages + 4
    top = [int(m.group(1)) for key in state if (m := re.fullmatch(r"model\.(\d+)\.weight", key))]
    last = max(top, default=0)
    if last < 4 or (last - 4) % 3:
        raise ValueError(f"{family}: the last layer model.{last} does not follow model.1 plus (upsample, "
                         f"conv, lrelu) stages, an HR conv and a last conv")
    return (last - 4) // 3


# -- SRVGGNetCompact (Real-ESRGAN) --------------------------------------------------------------------

def _srvgg(state: dict[str, Tensor], family: str) -> tuple[nn.Module, dict[str, str]]:
    # body.0 conv, body.1 PReLU, (body.2i conv, body.2i+1 PReLU) × num_conv, body.L conv to out·scale²
    last = max((int(m.group(1)) for key in state if (m := re.match(r"body\.(\d+)\.", key))), default=0)
    if last < 2 or last % 2:
        raise ValueError(f"{family}: the last conv body.{last} must have an even index ≥ 2 "
                         f"(conv/PReLU pairs)")
    first = _weight(state, "body.0.weight", family)
    tail = _weight(state, f"body.{last}.weight", family)
    channels, in_channels = first.shape[:2]
    scale = math.isqrt(tail.shape[0] // in_channels)
    if scale * scale * in_channels != tail.shape[0]:
        raise ValueError(f"{family}: body.{last}.weight has {tail.shape[0]} outputs, not in_channels "
                         f"({in_channels}) × scale²")
    num_convs = (last - 2) // 2
    config = SRVGGNetConfig(in_channels=in_channels, out_channels=in_channels, scale=scale, channels=channels,
                            num_convs=num_convs, act="prelu")
    network = _build(SRVGGNet, config, family)
    mapping = {"head.conv": "body.0", "head.act": "body.1", "tail.conv": f"body.{last}"}
    for i in range(num_convs):
        mapping[f"body.{i}.conv"] = f"body.{2 * i + 2}"
        mapping[f"body.{i}.act"] = f"body.{2 * i + 3}"
    return network, mapping


# -- MSRResNet (BasicSR) -----------------------------------------------------------------------------

def _msrresnet(state: dict[str, Tensor], family: str) -> tuple[nn.Module, dict[str, str]]:
    first = _weight(state, "conv_first.weight", family)
    channels, in_channels = first.shape[:2]
    out_channels = _weight(state, "conv_last.weight", family).shape[0]
    # ×4: upconv1 and upconv2, each to 4·C then PixelShuffle(2); ×2 / ×3: upconv1 alone to C·scale²
    if "upconv2.weight" in state:
        scale = 4
    else:
        scale = {4 * channels: 2, 9 * channels: 3}.get(_weight(state, "upconv1.weight", family).shape[0], 0)
        if not scale:
            raise ValueError(f"{family}: upconv1.weight has {state['upconv1.weight'].shape[0]} outputs, "
                             f"not {4 * channels} (×2) or {9 * channels} (×3)")
    num_blocks = _count(state, r"body\.(\d+)\.conv\d\.")
    config = MSRResNetConfig(in_channels=in_channels, out_channels=out_channels, scale=scale,
                             channels=channels, num_blocks=num_blocks)
    network = _build(MSRResNet, config, family)
    mapping = {"head.conv": "conv_first", "hr.conv": "conv_hr", "tail.conv": "conv_last"}
    for i in range(len(network.upsample)):
        mapping[f"upsample.{i}.conv"] = f"upconv{i + 1}"
    for n in range(num_blocks):
        mapping[f"blocks.{n}.conv1.conv"] = f"body.{n}.conv1"
        mapping[f"blocks.{n}.conv2.conv"] = f"body.{n}.conv2"
    return network, mapping


BUILDERS: dict[str, Callable[[dict[str, Tensor], str], tuple[nn.Module, dict[str, str]]]] = {
    "esrgan-basicsr": _rrdb,
    "esrgan-new": _rrdb,
    "esrgan-old": _rrdb,
    "srvgg": _srvgg,
    "msrresnet": _msrresnet,
}


# -- shared -------------------------------------------------------------------------------------------

def _weight(state: dict[str, Tensor], key: str, family: str) -> Tensor:
    if key not in state:
        raise ValueError(f"{family}: the state dict lacks {key}")
    return state[key]


def _count(state: dict[str, Tensor], pattern: str) -> int:
    """1 + the largest index `pattern`'s group matches at the start of a key (0 when none): a missing
    middle block then shows as a missing key, not as a shallower network."""
    found = [int(m.group(1)) for key in state if (m := re.match(pattern, key))]
    return max(found) + 1 if found else 0


def _build(module_cls: type[nn.Module], config: Any, family: str) -> nn.Module:
    try:
        return module_cls(config)
    except ValueError as error:
        raise ValueError(f"{family}: the sizes read from the weights make no i2i {module_cls.__name__}: "
                         f"{error}") from error


def _load_mapped(network: nn.Module, state: dict[str, Tensor], mapping: dict[str, str], family: str) -> None:
    """Copy upstream tensors into `network` by module-prefix `mapping` (i2i → upstream): every i2i
    tensor must be there with its shape, and every upstream tensor must be used."""
    renamed: dict[str, Tensor] = {}
    used: set[str] = set()
    for key, ours in network.state_dict().items():
        module, _, leaf = key.rpartition(".")
        source = f"{mapping[module]}.{leaf}"
        if source not in state:
            raise ValueError(f"{family}: the state dict lacks {source} (for i2i's {key})")
        if state[source].shape != ours.shape:
            raise ValueError(f"{family}: {source} has shape {tuple(state[source].shape)}, the network read "
                             f"from the other shapes needs {tuple(ours.shape)}")
        renamed[key] = state[source]
        used.add(source)
    leftover = [key for key in state if key not in used]
    if leftover:
        raise ValueError(f"{family}: tensors not understood: {leftover[:5]}")
    network.load_state_dict(renamed, strict=True)
