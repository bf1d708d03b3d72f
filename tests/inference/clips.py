"""Test clips made with PyAV: a pan over a real photo (scikit-image's astronaut), with a sine tone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from skimage import data

TONE_HZ = 440.0
SAMPLE_RATE = 44100


def pan_frames(count: int, height: int, width: int, step: tuple[int, int] = (2, 3), noise: float = 0.0,
               seed: int = 0) -> list[np.ndarray]:
    """`count` uint8 RGB crops of the astronaut photo, moving by `step` pixels a frame, with optional
    Gaussian sensor noise (σ in 0…255 units)."""
    photo = data.astronaut()
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        top, left = 60 + index * step[0], 120 + index * step[1]
        crop = photo[top: top + height, left: left + width].astype(np.float32)
        if noise:
            crop += rng.normal(0.0, noise, crop.shape)
        frames.append(np.clip(crop, 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, rate: int = 24, durations: list[int] | None = None,
               audio: str | None = "aac", rotation: int = 0, codec: str = "libx264", pix_fmt: str = "yuv420p",
               muxer: str | None = None) -> list[Fraction]:
    """Encode `frames` (near-lossless, CRF 10) with a sine tone as long as the clip; `durations` (in
    1/1000 s) makes the frame rate variable; `rotation` is the display matrix's (counter-clockwise).
    Returns each frame's timestamp in seconds."""
    container = av.open(str(path), "w", format=muxer)
    video = container.add_stream(codec, rate=rate)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = pix_fmt
    millisecond = Fraction(1, 1000)  # (the muxer replaces the stream's time base once it starts)
    video.time_base = video.codec_context.time_base = millisecond
    video.options = {"crf": "10"} if codec == "libx264" else {}
    if rotation:
        video.set_display_rotation(rotation)
    sound = container.add_stream(audio, rate=48000 if audio == "libopus" else SAMPLE_RATE) if audio else None
    if sound is not None:
        sound.layout = "mono"
    durations = durations or [1000 // rate] * len(frames)
    times, pts = [], 0
    for rgb, duration in zip(frames, durations, strict=True):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, millisecond
        times.append(Fraction(pts, 1000))
        container.mux(video.encode(frame))
        pts += duration
    container.mux(video.encode(None))
    if sound is not None:
        _write_tone(container, sound, pts / 1000)
    container.close()
    return times


def _write_tone(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    samples = np.sin(2 * np.pi * TONE_HZ * np.arange(int(rate * seconds)) / rate).astype(np.float32)
    fmt = stream.codec_context.format.name
    for start in range(0, len(samples), 1024):
        chunk = 0.3 * samples[start: start + 1024][None]
        if fmt.startswith("s16"):
            chunk = (chunk * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def decoded(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """(RGB frames as displayed by PyAV without rotation, their times in seconds)."""
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
