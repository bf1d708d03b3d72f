"""Clips through every kind of model and runtime, safely: a kill leaves no partial clip, MUNIT and
FUNIT use one code per clip, ONNX runs them, and `--norm-smoothing` smooths InstanceNorm."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.errors import I2IError
from i2i.inference.backend import Backend, load_backend
from i2i.inference.jobs import Job
from i2i.inference.video import translate_clip
from i2i.inference.video_io import VideoOptions
from i2i.preprocess import Preprocess
from tests.conftest import write_tiny_checkpoint
from tests.inference.clips import decoded, pan_frames, psnr, write_clip

runner = CliRunner()
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture(scope="module")
def unet(tmp_path_factory) -> Path:
    """A pix2pix U-Net whose BatchNorm runs per image (InstanceNorm at inference)."""
    path = tmp_path_factory.mktemp("unet") / "unet.safetensors"
    write_tiny_checkpoint(path)
    return path


def test_kill_mid_clip_leaves_no_partial_output_and_skip_existing_completes(unet, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_clip(inputs / "a_short.mp4", pan_frames(4, 64, 64))
    write_clip(inputs / "b_long.mp4", pan_frames(240, 64, 64, step=(0, 1)))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "i2i", "translate", str(unet), str(inputs), "--out", str(out), "--batch-size", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Poll until the long clip's temporary file is being written, then kill the process in the middle.
    while time.monotonic() < deadline and process.poll() is None:
        if [p for p in out.glob(".b_long.mp4.*") if p.stat().st_size > 0] if out.is_dir() else []:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "a_short.mp4").is_file() and not (out / "b_long.mp4").exists()
    result = subprocess.run([*command, "--skip-existing"], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 skipped as existing" in result.stdout
    assert len(decoded(out / "b_long.mp4")[0]) == 240
    assert sorted(p.name for p in out.iterdir()) == ["a_short.mp4", "b_long.mp4"]  # no temporaries left


def test_munit_uses_one_style_per_clip_and_num_styles_writes_k_clips(tmp_path):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(4, 32, 32), audio=None)
    model = WEIGHTS / "munit-styles.safetensors"
    # Lossless x264 without chroma subsampling: what is compared is the translation, not the codec.
    result = runner.invoke(app, ["translate", str(model), str(clip), "--out", str(tmp_path / "k"),
                                 "--num-styles", "2", "--seed", "3", "--crf", "0", "--pix-fmt", "yuv444p"])
    assert result.exit_code == 0, result.output
    first, second = (decoded(tmp_path / "k" / f"pan_style{k}.mp4")[0] for k in (0, 1))
    assert len(first) == len(second) == 4 and psnr(first[0], second[0]) < 25  # two styles differ
    # One style for every frame: each frame equals that frame translated alone with the same code.
    backend = load_backend(model)
    from i2i.inference.codes import prior_codes

    code = prior_codes(2, int(backend.conditioning["code_dim"]), 3)[0]
    still = backend.with_code(code).run(np.stack([f.astype(np.float32).transpose(2, 0, 1) / 255
                                                  for f in decoded(clip)[0]]))
    expected = [np.round(o.transpose(1, 2, 0) * 255).astype(np.uint8) for o in still]
    assert min(psnr(a, b) for a, b in zip(first, expected, strict=True)) >= 38
    Image.fromarray(pan_frames(1, 32, 32, seed=1)[0]).save(tmp_path / "style.png")
    result = runner.invoke(app, ["translate", str(model), str(clip), "--out", str(tmp_path / "s"),
                                 "--style", str(tmp_path / "style.png")])
    assert result.exit_code == 0 and (tmp_path / "s" / "pan.mp4").is_file(), result.output


def test_funit_translates_a_clip_into_the_class_of_its_examples(tmp_path):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(3, 32, 32), audio=None)
    examples = tmp_path / "examples"
    examples.mkdir()
    for k in range(2):
        Image.fromarray(pan_frames(1, 32, 32, seed=k)[0][:, ::-1].copy()).save(examples / f"{k}.png")
    result = runner.invoke(app, ["translate", str(WEIGHTS / "funit-classes.safetensors"), str(clip),
                                 "--out", str(tmp_path / "out"), "--class-images", str(examples)])
    assert result.exit_code == 0, result.output
    assert len(decoded(tmp_path / "out" / "pan.mp4")[0]) == 3


def test_onnx_backend_translates_clips_like_torch(unet, tmp_path):
    from i2i.export.onnx import export_onnx

    export_onnx(unet, tmp_path / "unet.onnx")
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(4, 64, 64))
    for name, model in (("torch", unet), ("onnx", tmp_path / "unet.onnx")):
        result = runner.invoke(app, ["translate", str(model), str(clip), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    torch_frames, onnx_frames = (decoded(tmp_path / name / "pan.mp4")[0] for name in ("torch", "onnx"))
    assert min(psnr(a, b) for a, b in zip(torch_frames, onnx_frames, strict=True)) >= 40
    result = runner.invoke(app, ["translate", str(tmp_path / "unet.onnx"), str(clip), "--out", str(tmp_path / "x"),
                                 "--norm-smoothing", "0.5"])
    assert result.exit_code == 2 and "needs a checkpoint and --backend torch" in result.output


def test_norm_smoothing_zero_is_plain_instancenorm(unet, tmp_path):
    batch = np.stack([f.astype(np.float32).transpose(2, 0, 1) / 255 for f in pan_frames(6, 64, 64, noise=6.0)])
    np.testing.assert_allclose(load_backend(unet, norm_smoothing=0.0).run(batch), load_backend(unet).run(batch),
                               atol=1e-5)
    clip = tmp_path / "noisy.mp4"
    write_clip(clip, pan_frames(8, 64, 64, noise=6.0), audio=None)
    result = runner.invoke(app, ["translate", str(unet), str(clip), "--out", str(tmp_path / "o"),
                                 "--norm-smoothing", "0.9"])
    assert result.exit_code == 0 and "norm smoothing 0.9" in result.output, result.output


def test_smoothing_steadies_what_does_not_move_when_something_enters_the_frame():
    """InstanceNorm re-normalises the whole frame when a bright object enters it: the static
    background's output pumps. Smoothed statistics keep it steadier; state is per clip (reset)."""
    import torch
    from torch import nn

    from i2i.inference.temporal_norm import smoothed_copy

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.InstanceNorm2d(3, affine=True)).eval()
    background = torch.from_numpy(pan_frames(1, 64, 64)[0]).permute(2, 0, 1).float() / 255
    frames = background.repeat(12, 1, 1, 1)
    for index in range(12):  # a white square sliding in from the right edge
        frames[index, :, 32:, 64 - 4 * (index + 1):] = 1.0
    smoothed, reset = smoothed_copy(net, 0.9)
    with torch.no_grad():
        plain_out, smooth_out = net(frames), smoothed(frames)
        reset()
        again = smoothed(frames)
    static = (slice(None), slice(None), slice(0, 28), slice(0, 28))  # never covered by the square

    def pumping(out: torch.Tensor) -> float:
        return float((out[1:] - out[:-1])[static].abs().mean())

    assert pumping(smooth_out) < 0.7 * pumping(plain_out), (pumping(smooth_out), pumping(plain_out))
    torch.testing.assert_close(again, smooth_out)  # reset: the second clip starts like the first
    with pytest.raises(I2IError, match="must be in"):
        smoothed_copy(net, 1.0)


def test_norm_smoothing_needs_a_normalising_model(tmp_path):
    write_clip(tmp_path / "a.mp4", pan_frames(2, 32, 32), audio=None)
    result = runner.invoke(app, ["translate", str(WEIGHTS / "srresnet-x4-photos.safetensors"), str(tmp_path / "a.mp4"),
                                 "--out", str(tmp_path / "o"), "--norm-smoothing", "0.9"])
    assert result.exit_code == 2 and "no InstanceNorm or AdaIN layer" in result.output, result.output


def test_frames_too_large_for_memory_say_so(tmp_path):
    clip = tmp_path / "big.mp4"
    write_clip(clip, pan_frames(2, 32, 32), audio=None)

    def out_of_memory(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 bytes")

    backend = Backend(out_of_memory, Preprocess(size=32), "A->B", "test")
    result = translate_clip(backend, Job(clip, tmp_path / "out" / "big.mp4", video=True), VideoOptions())
    assert result.error is not None and "big.mp4: frames of 32×32 is too large" in result.error
    assert "--tile" in result.error and not (tmp_path / "out" / "big.mp4").exists()
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert leftovers == []


def test_flow_smoothing_averages_noise_but_not_a_scene_cut():
    """A still scene with output noise: smoothed frames vary far less. A cut to another scene: the
    flow cannot explain it, confidence drops to zero, and the new frame passes unblended."""
    from i2i.inference.temporal import TemporalSmoother

    rng = np.random.default_rng(0)
    scene, other = pan_frames(1, 64, 64)[0], pan_frames(1, 64, 64, step=(0, 0), photo="chelsea.png")[0]
    clean = scene.astype(np.float32) / 255
    smoother = TemporalSmoother(0.8)
    outputs = [smoother(scene, np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32))
               for _ in range(10)]
    plain_noise = 0.05 * np.sqrt(2 / np.pi) * np.sqrt(2)  # E|n_t − n_{t−1}| for σ 0.05
    smoothed_change = float(np.mean([np.abs(b - a).mean() for a, b in zip(outputs[4:], outputs[5:])]))
    assert smoothed_change < 0.5 * plain_noise, smoothed_change
    after_cut = smoother(other, other.astype(np.float32) / 255)
    assert np.abs(after_cut - other.astype(np.float32) / 255).mean() < 0.01


def test_smoothing_flags_are_checked_before_anything_is_written(unet, tmp_path):
    write_clip(tmp_path / "a.mp4", pan_frames(2, 32, 32), audio=None)
    Image.fromarray(pan_frames(1, 32, 32)[0]).save(tmp_path / "still.png")
    for inputs, flags, message in (([tmp_path / "a.mp4"], ["--temporal-smoothing", "1.5"], "must be in [0, 1)"),
                                   ([tmp_path / "still.png"], ["--temporal-smoothing", "0.5"], "give a video input")):
        result = runner.invoke(app, ["translate", str(unet), *map(str, inputs), "--out", str(tmp_path / "o"), *flags])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_a_clip_another_translate_is_writing_is_left_to_it(unet, tmp_path):
    from i2i.inference import claims

    write_clip(tmp_path / "a.mp4", pan_frames(3, 32, 32), audio=None)
    target = tmp_path / "out" / "a.mp4"
    held = claims.take(target)  # as another live process would hold it (flock: per open file)
    assert not isinstance(held, str)
    try:
        result = runner.invoke(app, ["translate", str(unet), str(tmp_path / "a.mp4"), "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and "being written by another translate" in result.output, result.output
        result = runner.invoke(app, ["translate", str(unet), str(tmp_path / "a.mp4"), "--out", str(tmp_path / "out"),
                                     "--skip-existing"])
        assert result.exit_code == 0 and "1 skipped as existing" in result.output, result.output
    finally:
        held.release()
    assert not target.exists()
