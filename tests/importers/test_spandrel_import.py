"""Architectures spandrel detects, imported through spandrel itself: tiny random models built with
spandrel's own classes (upstream keys), on CPU, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from spandrel.architectures.Compact import Compact
from spandrel.architectures.DAT import DAT
from spandrel.architectures.ESRGAN import ESRGAN
from spandrel.architectures.OmniSR import OmniSR
from spandrel.architectures.SPAN import SPAN
from spandrel.architectures.SwinIR import SwinIR

from i2i.checkpoint import load_checkpoint, make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.export.onnx import export_onnx
from i2i.importers.junyanz import load_state_dict
from i2i.importers.spandrel_import import SPANDREL_VERSION, detect_spandrel, spandrel_network
from i2i.inference.backend import load_backend
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import translate_files
from i2i.inference.tiling import TileSpec, translate_tiled
from i2i.models import build, describe
from i2i.models.spandrel_network import ONNX_EXPORT
from i2i.preprocess import Preprocess

DIRECTION = "LR->HR"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"  # the junyanz reference files


def tiny(name: str) -> torch.nn.Module:
    """A tiny random upstream model (×2), built with spandrel's own class, in eval mode."""
    torch.manual_seed(0)
    if name == "SwinIR":  # img_size 64 as released models have it (48/64): the trace sizes differ from it
        model = SwinIR(img_size=64, embed_dim=12, depths=[2], num_heads=[2], window_size=4, mlp_ratio=2.0,
                       upscale=2, upsampler="pixelshuffle")
    elif name == "SPAN":
        model = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2)
    elif name == "OmniSR":
        model = OmniSR(num_feat=16, block_num=1, window_size=4, res_num=1, up_scale=2)
    elif name == "DAT":  # embed_dim 64: its position-bias MLP is embed_dim / 32 wide
        model = DAT(img_size=16, embed_dim=64, split_size=[2, 4], depth=[2], num_heads=[2], expansion_factor=2.0,
                    upscale=2)
    else:
        raise ValueError(name)
    return model.eval()


def upstream_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def write_checkpoint(path, network, batchnorm: str = "running"):
    """What the weights dispatcher writes for a spandrel network: RGB in [0, 1], mean 0, std 1."""
    config = network.config
    preprocess = Preprocess(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), scale=config.scale,
                            multiple_of=config.multiple_of, min_size=config.min_size)
    generators = {DIRECTION: network}
    header = make_header("srgan", ["LR", "HR"], generators, preprocess, inference={"batchnorm": batchnorm},
                         recipe={}, trained={"source": "spandrel"})
    save_checkpoint(path, generators, header)
    return path


def upstream_output(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(image)


@pytest.mark.parametrize("name, window", [("SwinIR", 4), ("SPAN", 1), ("OmniSR", 4)])
def test_import_saves_and_loads_to_the_upstream_output_exactly(tmp_path, name, window):
    model = tiny(name)
    state = upstream_state(model)
    assert detect_spandrel(state) == name
    network, info = spandrel_network(state)
    assert set(network.state_dict()) == {f"net.{key}" for key in state}  # upstream keys under one prefix
    assert info["family"] == f"spandrel:{name}" and info["scale"] == 2 and info["license"] is None
    assert set(info["supports"]) == {"onnx", "tiling"} and isinstance(info["sizes"], dict)
    config = network.config
    assert (config.architecture, config.scale, config.window, config.spandrel_version) == (name, 2, window,
                                                                                          SPANDREL_VERSION)
    assert config.multiple_of == window and describe(network)["architecture"] == "spandrel"

    generator = load_checkpoint(write_checkpoint(tmp_path / "model.safetensors", network)).generator(DIRECTION)
    image = torch.rand(2, 3, 24, 20)
    assert torch.equal(upstream_output(generator, image), upstream_output(model, image))
    assert generator.config == config


def test_translate_writes_the_upstream_output_for_a_size_that_is_not_a_multiple(tmp_path):
    """21×18 is no multiple of SwinIR's window (4): i2i pads by reflection as SwinIR itself does, so the
    PNG written is the upstream forward of the same picture (to 8-bit rounding)."""
    model = tiny("SwinIR")
    network, _ = spandrel_network(upstream_state(model))
    checkpoint = write_checkpoint(tmp_path / "swinir.safetensors", network)
    pixels = np.random.default_rng(0).integers(0, 256, (18, 21, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "low.png")

    backend = load_backend(checkpoint, device="cpu")
    report = translate_files(backend, collect_jobs([str(tmp_path / "low.png")], tmp_path / "out"))
    assert not report.failed
    written = np.asarray(Image.open(tmp_path / "out" / "low.png").convert("RGB")).astype(np.int16)

    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    expected = upstream_output(model, image).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert written.shape == (36, 42, 3)
    assert np.abs(written - np.round(expected * 255)).max() <= 1


def test_span_tiles_exactly(tmp_path):
    """SPAN is convolutions only: with context beyond its receptive field (21 input pixels) the tiled
    result is the whole-image one (to 16-bit rounding)."""
    model = tiny("SPAN")
    with torch.no_grad():  # random weights saturate nearly every pixel; scaled, most stay inside [0, 1]
        for parameter in model.upsampler.parameters():
            parameter.mul_(0.02)
    network, info = spandrel_network(upstream_state(model))
    assert info["supports"]["tiling"] == "exact"
    backend = load_backend(write_checkpoint(tmp_path / "span.safetensors", network), device="cpu")
    # Both sides longer than a window (24 + 2·32): no axis is reflect-padded to a window's length.
    image = np.random.default_rng(1).random((104, 120, 3), dtype=np.float32)
    whole = backend.run(image.transpose(2, 0, 1)[None].copy())[0].transpose(1, 2, 0)
    assert 0.3 < ((whole > 0) & (whole < 1)).mean()
    tiled = translate_tiled(backend.run, image, TileSpec(tile=24, pad=32, feather=16), scale=2, dtype=np.uint16)
    assert np.abs(tiled.astype(np.int32) - np.round(whole * 65535)).max() <= 1


def test_export_matches_pytorch_at_every_batch_and_size(tmp_path):
    import onnxruntime

    network, info = spandrel_network(upstream_state(tiny("OmniSR")))
    assert info["supports"]["onnx"] is True
    checkpoint = write_checkpoint(tmp_path / "omnisr.safetensors", network)
    report = export_onnx(checkpoint, tmp_path / "omnisr.onnx")
    assert max(difference for _, difference in report.parity) <= 1e-4
    # Dynamic batch, height and width: sizes the parity check did not use, in blocks of the window.
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    generator = load_checkpoint(checkpoint).generator(DIRECTION)
    for batch, height, width in ((1, 28, 36), (4, 20, 16)):
        image = torch.rand(batch, 3, height, width)
        actual = session.run(None, {session.get_inputs()[0].name: image.numpy()})[0]
        expected = upstream_output(generator, image).clamp(0, 1).numpy()
        assert actual.shape == (batch, 3, 2 * height, 2 * width) and np.abs(actual - expected).max() <= 1e-4


@pytest.mark.parametrize("name, reason", [("SPAN", "crashes torch.onnx.export"),
                                          ("SwinIR", "silently wrong for any other batch size")])
def test_export_of_an_architecture_that_does_not_export_is_one_line_naming_it(tmp_path, name, reason):
    network, info = spandrel_network(upstream_state(tiny(name)))
    assert info["supports"]["onnx"] is False
    checkpoint = write_checkpoint(tmp_path / "model.safetensors", network)
    with pytest.raises(I2IError, match=f"^{name} .*does not export to ONNX: .*{reason}") as error:
        export_onnx(checkpoint, tmp_path / "model.onnx")
    assert "\n" not in str(error.value) and not (tmp_path / "model.onnx").exists()


def test_the_parity_check_catches_a_graph_frozen_at_the_trace_batch(tmp_path, monkeypatch):
    """Were SwinIR not listed, its export (exact at batch 2, the trace's) fails the parity check at
    batches 1 and 3: still one line naming it, and no file."""
    monkeypatch.delitem(ONNX_EXPORT, "SwinIR")
    network, info = spandrel_network(upstream_state(tiny("SwinIR")))
    assert info["supports"]["onnx"] is None
    checkpoint = write_checkpoint(tmp_path / "swinir.safetensors", network)
    with pytest.raises(I2IError, match="^SwinIR .*does not export.*ONNX output differs from PyTorch") as error:
        export_onnx(checkpoint, tmp_path / "swinir.onnx")
    assert "\n" not in str(error.value) and not (tmp_path / "swinir.onnx").exists()


def test_an_exporter_failure_becomes_one_line_naming_the_architecture(tmp_path, monkeypatch):
    network, _ = spandrel_network(upstream_state(tiny("OmniSR")))
    checkpoint = write_checkpoint(tmp_path / "omnisr.safetensors", network)

    def failing_export(*args, **kwargs):
        raise RuntimeError("Failed to export the model with torch.export.\nTraceback (most recent call last): …")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(I2IError, match="^OmniSR .*does not export to ONNX.*Failed to export") as error:
        export_onnx(checkpoint, tmp_path / "omnisr.onnx")
    assert "\n" not in str(error.value)


def test_esrgan_compact_and_pix2pix_are_not_claimed():
    esrgan = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4).state_dict()
    compact = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4).state_dict()
    unet = load_state_dict(FIXTURES / "pix2pix_unet256_ngf8_batchnorm.pth")
    assert detect_spandrel(esrgan) is None and detect_spandrel(compact) is None and detect_spandrel(unet) is None
    with pytest.raises(ValueError, match="ESRGAN"):
        spandrel_network(esrgan)
    with pytest.raises(ValueError, match="detects no architecture"):
        spandrel_network(unet)


def test_loading_checks_the_stored_tensors_against_the_header(tmp_path):
    network, _ = spandrel_network(upstream_state(tiny("SPAN")))
    path = write_checkpoint(tmp_path / "span.safetensors", network)
    header = load_checkpoint(path).header
    header["generators"][DIRECTION]["config"]["architecture"] = "HAT"
    save_checkpoint(tmp_path / "wrong.safetensors", {DIRECTION: network}, header)
    with pytest.raises(I2IError, match="describes a ×2 HAT, but spandrel detects a ×2 SPAN"):
        load_checkpoint(tmp_path / "wrong.safetensors").generator(DIRECTION)
    with pytest.raises(ValueError, match="built from its tensors"):  # a config alone builds nothing
        build("spandrel", describe(network)["config"])


def test_batchnorm_must_run_with_running_averages(tmp_path):
    """DAT has BatchNorm in its attention branches: per-image statistics would change what it computes."""
    network, _ = spandrel_network(upstream_state(tiny("DAT")))
    path = write_checkpoint(tmp_path / "dat.safetensors", network, batchnorm="per_image")
    with pytest.raises(I2IError, match="BatchNorm layers.*'running'"):
        load_checkpoint(path).generator(DIRECTION)


def test_the_network_never_pads_behind_the_pipeline_s_back():
    network, _ = spandrel_network(upstream_state(tiny("SwinIR")))
    with pytest.raises(ValueError, match="multiples of 4 and at least 16, got 18×18"):
        network(torch.rand(1, 3, 18, 18))
