"""Downloaded SR weights (ESRGAN / Real-ESRGAN RRDBNet in three key layouts, SRVGGNetCompact, BasicSR's
MSRResNet) → i2i networks. The state dicts are built here in each upstream layout from the upstream
definitions; the upstream forward is spandrel's own classes (RRDBNet, SRVGGNetCompact) or, for
MSRResNet, an independent torch.nn.functional forward. No downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import spandrel
import torch
import torch.nn.functional as F

from i2i.checkpoint import make_header, save_checkpoint
from i2i.export.onnx import export_onnx
from i2i.importers.junyanz import load_state_dict
from i2i.importers.sr import SR_FAMILIES, detect_sr, sr_network, unwrap_state
from i2i.models import MSRResNet, RRDBNet, SRVGGNet
from i2i.preprocess import Preprocess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
GROWTH = 32   # spandrel's RRDBNet has the official growth fixed at 32
TOLERANCE = 1e-5


def conv(state, key, c_out, c_in, generator):
    """A 3×3 conv's weight and bias, small enough that a few blocks stay in a sane range."""
    state[f"{key}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=generator) * (1.0 / (c_in * 9) ** 0.5)
    state[f"{key}.bias"] = torch.randn(c_out, generator=generator) * 0.05


# -- upstream state dicts, key layouts as the upstream __init__s name them -------------------------------
def rrdb_state(layout, in_ch=3, out_ch=3, nf=8, nb=2, stages=2, unshuffle=1, growth=GROWTH, seed=0):
    """RRDBNet weights in `layout`: basicsr (BasicSR/Real-ESRGAN), new (ESRGAN RRDBNet_arch) or old
    (ESRGAN old_arch: one numbered Sequential). `unshuffle` 2/4 is Real-ESRGAN ×2/×1 (in_ch·4/·16 at
    the head)."""
    g = torch.Generator().manual_seed(seed)
    names = {
        "basicsr": ("conv_first", "body.{n}.rdb{k}.conv{j}", "conv_body", "conv_up{i}", "conv_hr",
                    "conv_last"),
        "new": ("conv_first", "RRDB_trunk.{n}.RDB{k}.conv{j}", "trunk_conv", "upconv{i}", "HRconv",
                "conv_last"),
        "old": ("model.0", "model.1.sub.{n}.RDB{k}.conv{j}.0", f"model.1.sub.{nb}", "model.{u}",
                f"model.{3 * stages + 2}", f"model.{3 * stages + 4}"),
    }[layout]
    first, block, trunk, up, hr, last = names
    state = {}
    conv(state, first, nf, in_ch * unshuffle ** 2, g)
    for n in range(nb):
        for k in (1, 2, 3):
            for j in (1, 2, 3, 4, 5):
                conv(state, block.format(n=n, k=k, j=j), growth if j < 5 else nf, nf + (j - 1) * growth, g)
    conv(state, trunk, nf, nf, g)
    for i in range(1, stages + 1):
        conv(state, up.format(i=i, u=3 * i), nf, nf, g)
    conv(state, hr, nf, nf, g)
    conv(state, last, out_ch, nf, g)
    return state


def srvgg_state(in_ch=3, nf=8, num_conv=3, scale=4, seed=0):
    """SRVGGNetCompact (act prelu): body.0 conv, body.1 PReLU, (conv, PReLU) × num_conv, last conv."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    conv(state, "body.0", nf, in_ch, g)
    for i in range(num_conv + 1):
        state[f"body.{2 * i + 1}.weight"] = torch.rand(nf, generator=g) * 0.4      # PReLU slopes
        if i < num_conv:
            conv(state, f"body.{2 * i + 2}", nf, nf, g)
    conv(state, f"body.{2 * num_conv + 2}", in_ch * scale * scale, nf, g)
    return state


def msrresnet_state(in_ch=3, nf=8, nb=2, scale=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    conv(state, "conv_first", nf, in_ch, g)
    for n in range(nb):
        conv(state, f"body.{n}.conv1", nf, nf, g)
        conv(state, f"body.{n}.conv2", nf, nf, g)
    if scale == 4:
        conv(state, "upconv1", nf * 4, nf, g)
        conv(state, "upconv2", nf * 4, nf, g)
    else:
        conv(state, "upconv1", nf * scale * scale, nf, g)
    conv(state, "conv_hr", nf, nf, g)
    conv(state, "conv_last", in_ch, nf, g)
    return state


def msrresnet_reference(state, x, scale):
    """BasicSR's MSRResNet.forward, written with torch.nn.functional."""
    def c(h, key):
        return F.conv2d(h, state[f"{key}.weight"], state[f"{key}.bias"], padding=1)

    def lrelu(h):
        return F.leaky_relu(h, 0.1)

    out = lrelu(c(x, "conv_first"))
    n = 0
    while f"body.{n}.conv1.weight" in state:
        out = out + c(F.relu(c(out, f"body.{n}.conv1")), f"body.{n}.conv2")
        n += 1
    if scale == 4:
        out = lrelu(F.pixel_shuffle(c(out, "upconv1"), 2))
        out = lrelu(F.pixel_shuffle(c(out, "upconv2"), 2))
    else:
        out = lrelu(F.pixel_shuffle(c(out, "upconv1"), scale))
    out = c(lrelu(c(out, "conv_hr")), "conv_last")
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def upstream(state):
    """spandrel's own network (its own key conversion and class) for an upstream state dict."""
    return spandrel.ModelLoader().load_from_state_dict(dict(state)).model.eval()


def max_diff(a, b):
    return float((a - b).abs().max())


# -- parity with upstream ----------------------------------------------------------------------------------
RRDB_CASES = [  # (layout, stages, unshuffle, expected scale)
    *[(layout, 2, unshuffle, 4 // unshuffle) for layout in ("basicsr", "new", "old")
      for unshuffle in (1, 2, 4)],
    ("old", 1, 1, 2),     # old-arch ×2 community models: one ×2 stage, no unshuffle
    ("basicsr", 3, 1, 8),  # a ×8 RRDBNet: conv_up3
]


@pytest.mark.parametrize("layout, stages, unshuffle, scale", RRDB_CASES)
def test_rrdb_layouts_match_upstream(layout, stages, unshuffle, scale):
    state = rrdb_state(layout, stages=stages, unshuffle=unshuffle)
    family = f"esrgan-{layout}"
    assert detect_sr(state) == family
    network, info = sr_network(state, family)
    assert type(network) is RRDBNet and not network.training
    assert info == {"family": family, "scale": scale,
                    "sizes": {"in_channels": 3, "out_channels": 3, "channels": 8, "growth": GROWTH,
                              "num_blocks": 2, "unshuffle": unshuffle}}
    assert network.config.multiple_of == unshuffle
    x = torch.rand(2, 3, 8, 12)
    with torch.no_grad():
        ours, theirs = network(x), upstream(state)(x)
    assert ours.shape == theirs.shape == (2, 3, 8 * scale, 12 * scale)
    assert max_diff(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("scale", [4, 2])
def test_srvgg_matches_upstream(scale):
    state = srvgg_state(scale=scale)
    assert detect_sr(state) == "srvgg"
    network, info = sr_network(state, "srvgg")
    assert type(network) is SRVGGNet
    assert info == {"family": "srvgg", "scale": scale,
                    "sizes": {"in_channels": 3, "out_channels": 3, "channels": 8, "num_convs": 3,
                              "act": "prelu"}}
    x = torch.rand(2, 3, 7, 10)
    with torch.no_grad():
        ours, theirs = network(x), upstream(state)(x)
    assert ours.shape == (2, 3, 7 * scale, 10 * scale)
    assert max_diff(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_matches_basicsr_forward(scale):
    state = msrresnet_state(scale=scale)
    assert detect_sr(state) == "msrresnet"
    network, info = sr_network(state, "msrresnet")
    assert type(network) is MSRResNet
    assert info == {"family": "msrresnet", "scale": scale,
                    "sizes": {"in_channels": 3, "out_channels": 3, "channels": 8, "num_blocks": 2}}
    x = torch.rand(2, 3, 7, 10)
    with torch.no_grad():
        ours, theirs = network(x), msrresnet_reference(state, x, scale)
    assert ours.shape == (2, 3, 7 * scale, 10 * scale)
    assert max_diff(ours, theirs) <= TOLERANCE


def test_growth_is_read_and_half_precision_files_load_as_float32():
    state = {k: v.half() for k, v in rrdb_state("new", growth=16).items()}
    network, info = sr_network(state, "esrgan-new")
    assert info["sizes"]["growth"] == 16 and network.head.conv.weight.dtype == torch.float32
    reference, _ = sr_network({k: v.float() for k, v in state.items()}, "esrgan-new")
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(network(x), reference(x))


# -- detection and unwrapping ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pix2pix_unet256_ngf8_batchnorm", "cyclegan_resnet6_ngf8"])
def test_detection_leaves_other_projects_alone(name):
    assert detect_sr(load_state_dict(FIXTURES / f"{name}.pth")) is None
    assert detect_sr({}) is None


def test_families_are_described():
    assert set(SR_FAMILIES) == {"esrgan-basicsr", "esrgan-new", "esrgan-old", "srvgg", "msrresnet"}
    assert all("xinntao/" in description for description in SR_FAMILIES.values())


def test_params_ema_is_preferred_and_module_prefix_stripped():
    ema, plain = srvgg_state(seed=1), srvgg_state(seed=2)
    assert unwrap_state({"params": plain, "params_ema": ema}) == ema
    assert unwrap_state({"params": plain}) == plain
    assert unwrap_state(ema) == ema
    assert unwrap_state({f"module.{k}": v for k, v in ema.items()}) == ema
    network, _ = sr_network(unwrap_state({"params": plain, "params_ema": ema}), "srvgg")
    assert torch.equal(network.head.conv.weight, ema["body.0.weight"])
    with pytest.raises(ValueError, match="not tensors"):
        unwrap_state({"params_ema": {"iter": 3}, "params": plain})
    with pytest.raises(ValueError, match="state dict"):
        unwrap_state([1, 2])


# -- loud errors -------------------------------------------------------------------------------------------
def test_a_missing_tensor_is_named():
    state = rrdb_state("basicsr")
    del state["body.1.rdb2.conv3.weight"]
    with pytest.raises(ValueError, match=r"body\.1\.rdb2\.conv3\.weight"):
        sr_network(state, "esrgan-basicsr")
    state = srvgg_state()
    del state["body.3.weight"]                       # a PReLU
    with pytest.raises(ValueError, match=r"body\.3\.weight"):
        sr_network(state, "srvgg")


def test_a_mismatched_shape_is_named():
    state = rrdb_state("new")
    state["HRconv.weight"] = state["HRconv.weight"][:, :4]
    with pytest.raises(ValueError, match=r"HRconv\.weight has shape \(8, 4, 3, 3\)"):
        sr_network(state, "esrgan-new")
    state = msrresnet_state(scale=2)
    state["upconv1.weight"] = state["upconv1.weight"][:20]
    with pytest.raises(ValueError, match=r"upconv1\.weight has 20 outputs"):
        sr_network(state, "msrresnet")


def test_extra_tensors_and_wrong_family_are_refused():
    state = rrdb_state("old") | {"model.1.sub.0.RDB1.conv9.0.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"not understood.*conv9"):
        sr_network(state, "esrgan-old")
    with pytest.raises(ValueError, match="lacks conv_first.weight"):
        sr_network(rrdb_state("old"), "esrgan-new")
    with pytest.raises(ValueError, match="unknown SR family"):
        sr_network(rrdb_state("old"), "esrgan")


# -- ONNX --------------------------------------------------------------------------------------------------
ONNX_CASES = [("esrgan-basicsr", lambda: rrdb_state("basicsr", nb=1, unshuffle=2)),
              ("esrgan-old", lambda: rrdb_state("old", nb=1, unshuffle=4)),
              ("srvgg", srvgg_state),
              ("msrresnet", lambda: msrresnet_state(scale=3))]


@pytest.mark.parametrize("family, make_state", ONNX_CASES, ids=[case[0] for case in ONNX_CASES])
def test_imported_networks_export_to_onnx(tmp_path, family, make_state):
    """Through i2i's own export (dynamo, parity-checked at two sizes), then again at a third size here."""
    network, info = sr_network(make_state(), family)
    config = network.config
    preprocess = Preprocess(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), scale=info["scale"],
                            multiple_of=config.multiple_of, min_size=config.min_size)
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": network}, preprocess, {"batchnorm": "running"},
                         {}, {})
    save_checkpoint(tmp_path / "model.safetensors", {"LR->HR": network}, header)
    report = export_onnx(tmp_path / "model.safetensors", tmp_path / "model.onnx")
    assert max(difference for _, difference in report.parity) <= 1e-4
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 4 * config.multiple_of, 3 * config.multiple_of)
    with torch.no_grad():
        expected = network(x).clamp(0, 1).numpy()
    actual = session.run(None, {"image": x.numpy()})[0]
    assert actual.shape == expected.shape == (1, 3, x.shape[2] * info["scale"], x.shape[3] * info["scale"])
    assert np.abs(actual - expected).max() <= 1e-4
