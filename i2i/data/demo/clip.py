"""Built-in demo clip: a camera pan over a real photograph, with sensor noise and a sine tone.

No video can be downloaded here, so `i2i data demo clip DIR` writes one: crops of one of
scikit-image's bundled photographs (the pan), optional Gaussian noise per frame (what makes
frame-by-frame translation flicker on real footage), encoded with x264, and a 440 Hz tone as long as
the clip so that the sound's passage through `translate` can be checked. `write_clip` is also what
the tests and benchmarks make their clips with (variable frame rate, rotation, other codecs).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from i2i.data.demo.photos import skimage_data_dir

TONE_HZ = 440.0
SAMPLE_RATE = 44100


def pan_frames(count: int, height: int, width: int, step: tuple[int, int] = (2, 3), noise: float = 0.0,
               seed: int = 0, photo: str = "astronaut.png") -> list[np.ndarray]:
    """`count` uint8 RGB crops of a bundled photo moving by `step` (down, right) pixels a frame (the
    pan turns back at the photo's edge), with Gaussian sensor noise of σ `noise` (0…255 units). A
    photo smaller than 1.25 × the frame is first enlarged (Lanczos) to leave the pan room."""
    from PIL import Image

    picture = Image.open(skimage_data_dir() / photo).convert("RGB")
    factor = max(1.25 * height / picture.height, 1.25 * width / picture.width)
    if factor > 1:
        picture = picture.resize((round(picture.width * factor), round(picture.height * factor)), Image.LANCZOS)
    image = np.asarray(picture)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        top = _bounce(60 + index * step[0], image.shape[0] - height)
        left = _bounce(120 + index * step[1], image.shape[1] - width)
        crop = image[top: top + height, left: left + width].astype(np.float32)
        if noise:
            crop += rng.normal(0.0, noise, crop.shape)
        frames.append(np.clip(np.round(crop), 0, 255).astype(np.uint8))
    return frames


def _bounce(position: int, limit: int) -> int:
    """Position on a path that turns back at 0 and `limit` (a pan that sweeps back and forth)."""
    if limit <= 0:
        raise ValueError(f"the clip's frames are larger than the photo ({limit} pixels to spare)")
    period = 2 * limit
    position %= period
    return position if position <= limit else period - position


def write_clip(path: Path, frames: list[np.ndarray], *, rate: int = 24, durations: list[int] | None = None,
               audio: str | None = "aac", rotation: int = 0, codec: str = "libx264", pix_fmt: str = "yuv420p",
               muxer: str | None = None, crf: int = 10) -> list[Fraction]:
    """Encode `frames` (x264 at `crf`) with a sine tone as long as the clip; `durations` (in 1/1000 s)
    makes the frame rate variable; `rotation` is the display matrix's (degrees counter-clockwise).
    Returns each frame's timestamp in seconds."""
    import av

    container = av.open(str(path), "w", format=muxer)
    video = container.add_stream(codec, rate=rate)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = pix_fmt
    # One tick a frame at a constant rate; milliseconds for variable durations. (Kept here: the muxer
    # replaces the stream's time base once it starts.)
    tick = Fraction(1, rate) if durations is None else Fraction(1, 1000)
    video.time_base = video.codec_context.time_base = tick
    video.options = {"crf": str(crf)} if codec == "libx264" else {}
    if rotation:
        video.set_display_rotation(rotation)
    sound = container.add_stream(audio, rate=48000 if audio == "libopus" else SAMPLE_RATE) if audio else None
    if sound is not None:
        sound.layout = "mono"
    durations = durations or [1] * len(frames)
    times, pts = [], 0
    for rgb, duration in zip(frames, durations, strict=True):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, tick
        times.append(pts * tick)
        container.mux(video.encode(frame))
        pts += duration
    container.mux(video.encode(None))
    if sound is not None:
        _write_tone(container, sound, float(pts * tick))
    container.close()
    return times


def _write_tone(container: Any, stream: Any, seconds: float) -> None:
    import av

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


def make_clip(out_dir: str | Path, *, frames: int = 96, width: int = 256, height: int = 144, noise: float = 4.0,
              seed: int = 0, photo: str = "coffee.png") -> Path:
    """Write `out_dir/pan.mp4`: a pan over `photo` at 24 frames/s with noise and a tone. Returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "pan.mp4"
    write_clip(path, pan_frames(frames, height, width, step=(1, 2), noise=noise, seed=seed, photo=photo), crf=17)
    return path
