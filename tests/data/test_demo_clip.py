"""`i2i data demo clip DIR`: a pan over a real photo, with noise and a tone, as an .mp4."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from i2i.cli import app
from i2i.inference.video_io import probe
from tests.inference.clips import audio_seconds, decoded

runner = CliRunner()


def test_demo_clip_is_a_playable_pan_with_sound(tmp_path):
    result = runner.invoke(app, ["data", "demo", "clip", str(tmp_path / "a"), "--frames", "12", "--size", "72"])
    assert result.exit_code == 0, result.output
    info = probe(tmp_path / "a" / "pan.mp4")
    assert (info.width, info.height, info.frames, info.rate) == (128, 72, 12, 24)
    assert audio_seconds(tmp_path / "a" / "pan.mp4") > 0.45  # 12 frames at 24/s
    frames, _ = decoded(tmp_path / "a" / "pan.mp4")
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 5  # the camera moves
    runner.invoke(app, ["data", "demo", "clip", str(tmp_path / "b"), "--frames", "12", "--size", "72"])
    assert (tmp_path / "a" / "pan.mp4").read_bytes() == (tmp_path / "b" / "pan.mp4").read_bytes()


def test_a_clip_larger_than_the_photo_pans_over_it_enlarged(tmp_path):
    result = runner.invoke(app, ["data", "demo", "clip", str(tmp_path), "--size", "720", "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert (probe(tmp_path / "pan.mp4").width, probe(tmp_path / "pan.mp4").height) == (1280, 720)
