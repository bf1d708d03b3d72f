"""Test clips: made with the demo clip writer (a pan over a real photo, a sine tone), read back with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from i2i.data.demo.clip import pan_frames, write_clip

__all__ = ["audio_seconds", "decoded", "pan_frames", "psnr", "write_clip"]


def decoded(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """(RGB frames as stored, without their rotation applied, and their times in seconds)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        return [frame.to_ndarray(format="rgb24") for frame in frames], [float(frame.time) for frame in frames]


def audio_seconds(path: Path) -> float | None:
    """The decoded duration of the first audio stream (None without one)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))
