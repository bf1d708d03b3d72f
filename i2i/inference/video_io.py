"""Reading and writing video files with PyAV (FFmpeg bundled in its wheels: no system ffmpeg).

- `probe` reads a clip's header: displayed size (rotation applied), frame rate, frame count, bit
  depth, the audio and subtitle streams that travel with it. A file that is not a readable video is
  a `VideoReadError` naming it.
- `read_clip` decodes frames upright (the display matrix applied, as players do) as uint8 or uint16
  RGB with their timestamps, and passes the packets of the other streams through untouched.
- `ClipWriter` encodes frames with their original timestamps (variable frame rate kept) and muxes
  the audio and subtitle packets without re-encoding; audio a container cannot hold (PCM in .mp4)
  is re-encoded to AAC (Opus for WebM), subtitles it cannot hold are dropped and said so.

PyAV is imported inside the functions: listing and planning never load FFmpeg.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".m2ts",
                    ".flv", ".wmv", ".ogv", ".3gp")
# Containers written as they came; any other input container is written as .mp4.
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# Audio and subtitle codecs each output container takes as they are (FFmpeg's muxers' lists, narrowed
# to what players handle); everything else is re-encoded (audio) or dropped (subtitles).
_AUDIO_COPY = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_f32le"},
    "matroska": None,  # any
    "webm": {"opus", "vorbis"},
}
_SUBTITLE_COPY = {"mp4": {"mov_text"}, "mov": {"mov_text"}, "matroska": None, "webm": {"webvtt"}}


class VideoReadError(I2IError):
    """A file that cannot be read as a video (its message names the file and why)."""


def is_video_file(path: Path) -> bool:
    """A video by its extension, and not a temporary file of an interrupted write."""
    return path.suffix.lower() in VIDEO_EXTENSIONS and ".i2i-tmp" not in path.name


def looks_like_video(path: Path) -> bool:
    """Whether FFmpeg reads `path` as a container with a moving-picture stream (not a still image:
    FFmpeg opens PNG and JPEG files too, as one-frame "image2" streams)."""
    import av

    try:
        with av.open(str(path)) as container:
            still = "image2" in container.format.name or container.format.name.endswith("_pipe")
            return bool(container.streams.video) and not still
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return False


def output_name(source: Path) -> str:
    """The output file's name: the input's, in .mp4 unless its container is one i2i writes."""
    return source.name if source.suffix.lower() in _MUXERS else f"{source.stem}.mp4"


@dataclass
class ClipInfo:
    """What the header says about a clip, the size as displayed (after its rotation)."""

    path: Path
    width: int
    height: int
    rotation: int                 # degrees counter-clockwise the stored frames are turned for display
    rate: Fraction                # average frame rate
    frames: int                   # frame count (the header's, else duration × rate)
    duration: float               # seconds
    bits: int                     # 8, or 10/12/16 for high-bit-depth sources
    codec: str
    others: list[str] = field(default_factory=list)  # "audio aac", "subtitle mov_text", ...


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoReadError(f"{path}: not a readable video ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    """FFmpeg's message without its errno and the file name (which the caller's message leads with)."""
    text = str(error).split(": '")[0]
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    return text[:1].lower() + text[1:] if text else type(error).__name__


def probe(path: str | Path) -> ClipInfo:
    """The clip's header; raises VideoReadError for an unreadable file or one without a video stream."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            raise VideoReadError(f"{path}: holds no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        if context.width <= 0 or context.height <= 0:
            raise VideoReadError(f"{path}: its video stream has no frame size ({context.name})")
        first = _first_frame(path, container, stream)  # its display matrix and pixel format
        rotation = round(first.rotation) % 360
        width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        duration = float(stream.duration * stream.time_base) if stream.duration else \
            (container.duration or 0) / 1_000_000
        frames = stream.frames or max(1, round(duration * rate))
        others = [f"{s.type} {s.codec_context.name}" for s in container.streams
                  if s.type in ("audio", "subtitle") and s.codec_context is not None]
        return ClipInfo(path, width, height, rotation, Fraction(rate), int(frames), duration,
                        _bit_depth(first.format.name), context.name, others)


def _first_frame(path: Path, container: Any, stream: Any) -> Any:
    import av

    try:
        return next(container.decode(stream))
    except StopIteration:
        raise VideoReadError(f"{path}: its video stream holds no decodable frame") from None
    except av.FFmpegError as error:
        raise VideoReadError(f"{path}: cannot decode its first frame ({_reason(error)})") from None


def _bit_depth(pix_fmt: str | None) -> int:
    name = pix_fmt or ""
    for bits in (16, 12, 10):
        if f"p{bits}" in name or f"{bits}le" in name or f"{bits}be" in name:
            return bits
    return 8


@dataclass
class Frame:
    rgb: np.ndarray     # H×W×3 uint8 or uint16, upright
    pts: int | None     # in the source stream's time base
    index: int


def read_clip(path: Path, bits: int = 8) -> tuple[Any, Iterator[Frame | Any]]:
    """(the open container, an iterator over upright frames and the other streams' packets in file
    order). The caller closes the container. `bits` > 8 decodes to 16-bit RGB (10-bit sources)."""
    import av

    container = _open(path)
    video = container.streams.video[0]
    video.thread_type = "AUTO"  # frame and slice threads: decoding keeps ahead of the model
    others = [s for s in container.streams if s.type in ("audio", "subtitle")]
    fmt = "rgb48le" if bits > 8 else "rgb24"

    def events() -> Iterator[Frame | Any]:
        index, previous_time, last_time = 0, None, None
        try:
            for packet in container.demux(video, *others):
                if packet.stream.index != video.index:
                    if packet.dts is not None:  # the flush packet at the end of each stream has none
                        yield packet
                    continue
                for frame in packet.decode():
                    yield Frame(_upright(frame.to_ndarray(format=fmt), frame.rotation), frame.pts, index)
                    index, previous_time, last_time = index + 1, last_time, frame.time
        except av.FFmpegError as error:
            raise VideoReadError(f"{path}: cannot decode frame {index + 1} ({_reason(error)})") from None
        if index == 0:
            raise VideoReadError(f"{path}: its video stream holds no decodable frame")
        _check_complete(path, container, video, previous_time, last_time, index)

    return container, events()


def _check_complete(path: Path, container: Any, video: Any, previous_time: float | None, last_time: float | None,
                    frames: int) -> None:
    """A clip whose frames end well before the duration its header announces was cut off (a copy
    that stopped, a download that broke): FFmpeg decodes what is there without an error, so say it.
    The last frame lasts as long as the one before it (AVI's nominal rate can be 1000 fps)."""
    duration = float(video.duration * video.time_base) if video.duration else (container.duration or 0) / 1e6
    start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    step = (last_time - previous_time) if previous_time is not None and last_time is not None else 0.0
    end = (last_time or 0.0) - start + step
    if duration > 0 and end < 0.9 * duration - step:
        raise VideoReadError(f"{path}: truncated: its frames end at {end:.2f} s of the {duration:.2f} s its header "
                             f"announces ({frames} frames decoded); nothing written for it")


def _upright(rgb: np.ndarray, rotation: float) -> np.ndarray:
    """Turn a stored frame as its display matrix says (FFmpeg's rotation: degrees counter-clockwise)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


@dataclass
class VideoOptions:
    """How clips are written: codec and quality (defaults per container), or numbered PNG frames."""

    codec: str | None = None       # default libx264 (libvpx-vp9 for .webm)
    crf: int | None = None         # default 17 for x264 (visually lossless), 20 for VP9
    pix_fmt: str | None = None     # default yuv420p (yuv420p10le for 10-bit sources with x264)
    frames: bool = False           # write NAME/000001.png … instead of a video
    temporal_smoothing: float | None = None  # flow-guided blending of outputs (inference/temporal.py)
    norm_smoothing: float | None = None      # InstanceNorm/AdaIN statistics over frames (temporal_norm.py)

    def resolved(self, muxer: str, source_bits: int) -> tuple[str, int, str]:
        codec = self.codec or ("libvpx-vp9" if muxer == "webm" else "libx264")
        crf = self.crf if self.crf is not None else (20 if "vp9" in codec else 17)
        default_fmt = "yuv420p10le" if source_bits > 8 and codec in ("libx264", "libx265") else "yuv420p"
        return codec, crf, self.pix_fmt or default_fmt


def check_video_options(options: VideoOptions) -> None:
    """Refuse an encoder, CRF or pixel format FFmpeg does not have, or a smoothing strength out of
    range, before anything is translated."""
    import av

    for flag, value in (("--temporal-smoothing", options.temporal_smoothing), ("--norm-smoothing", options.norm_smoothing)):
        if value is not None and not 0.0 <= value < 1.0:
            raise I2IError(f"{flag} must be in [0, 1) (0: off; 0.5 to 0.9 smooth more and more), got {value}")

    codec_name, _, pix_fmt = options.resolved("mp4", 8)
    try:
        codec = av.codec.Codec(codec_name, "w")
    except (av.FFmpegError, ValueError):  # UnknownCodecError is a ValueError
        raise I2IError(f"--video-codec {codec_name}: no such encoder in this FFmpeg "
                       f"(libx264, libx265, libvpx-vp9, libsvtav1, mpeg4, ffv1 are)") from None
    if codec.type != "video":
        raise I2IError(f"--video-codec {codec_name} is a {codec.type} encoder")
    formats = [f.name for f in codec.video_formats or []]
    if options.pix_fmt is not None and formats and pix_fmt not in formats:
        raise I2IError(f"--pix-fmt {pix_fmt}: {codec_name} takes {', '.join(formats)}")
    if options.crf is not None and not 0 <= options.crf <= 63:
        raise I2IError(f"--crf must be in 0…63 (x264: 0 lossless, 17 visually lossless, 23 its default), "
                       f"got {options.crf}")


class ClipWriter:
    """Encodes upright RGB frames (uint8/uint16) at the source's timestamps into `path`, and muxes the
    source's audio and subtitle packets. Frames are padded to even sizes where the pixel format
    subsamples chroma (yuv420p cannot hold an odd width)."""

    def __init__(self, path: Path, muxer: str, source: Any, size: tuple[int, int], options: VideoOptions,
                 bits: int) -> None:
        import av

        self.container = av.open(str(path), "w", format=muxer)
        source_video = source.streams.video[0]
        codec, crf, pix_fmt = options.resolved(muxer, bits)
        self.stream = self.container.add_stream(codec, rate=source_video.average_rate or Fraction(25))
        self.time_base = source_video.time_base
        # The source's time base for the stream and the encoder: frame timestamps pass through unrounded
        # (the encoder's default, 1/rate, would snap variable-rate timestamps to a constant-rate grid).
        self.stream.time_base = self.time_base
        self.stream.codec_context.time_base = self.time_base
        chroma = av.VideoFormat(pix_fmt)
        self.even = (chroma.components[1].width != chroma.width, chroma.components[1].height != chroma.height) \
            if len(chroma.components) > 1 else (False, False)
        height, width = size
        self.stream.height = height + (height % 2 if self.even[1] else 0)
        self.stream.width = width + (width % 2 if self.even[0] else 0)
        self.stream.pix_fmt = pix_fmt
        self.stream.options = _quality_options(codec, crf)
        self.stream.codec_context.thread_type = "AUTO"
        self.notes: list[str] = []
        self.copies: dict[int, Any] = {}
        self.transcoders: dict[int, _AudioTranscoder] = {}
        for other in source.streams:
            if other.type in ("audio", "subtitle"):
                self._add_passthrough(other, muxer)

    def _add_passthrough(self, stream: Any, muxer: str) -> None:
        name = stream.codec_context.name
        allowed = (_AUDIO_COPY if stream.type == "audio" else _SUBTITLE_COPY)[muxer]
        if allowed is None or name in allowed:
            self.copies[stream.index] = self.container.add_stream_from_template(stream)
        elif stream.type == "audio":
            self.transcoders[stream.index] = _AudioTranscoder(self.container, stream, muxer)
            self.notes.append(f"audio {name} re-encoded to {self.transcoders[stream.index].codec} "
                              f"({muxer} cannot hold {name})")
        else:
            self.notes.append(f"subtitle stream {name} dropped ({muxer} cannot hold it)")

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        import av

        pad_h, pad_w = self.stream.height - rgb.shape[0], self.stream.width - rgb.shape[1]
        if pad_h or pad_w:
            rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
        frame.pts, frame.time_base = pts, self.time_base
        self.container.mux(self.stream.encode(frame))

    def pass_packet(self, packet: Any) -> None:
        index = packet.stream.index
        if index in self.copies:
            packet.stream = self.copies[index]
            self.container.mux(packet)
        elif index in self.transcoders:
            self.transcoders[index].push(packet)

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        for transcoder in self.transcoders.values():
            transcoder.flush()
        self.container.close()


def _quality_options(codec: str, crf: int) -> dict[str, str]:
    if "vp9" in codec:  # constant quality (b:v 0), row threads, the "good" speed the FFmpeg docs advise
        return {"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
    if codec in ("libx264", "libx265", "libsvtav1"):
        return {"crf": str(crf)}
    return {"qscale": str(max(1, min(31, crf // 2)))} if codec == "mpeg4" else {}


class _AudioTranscoder:
    """Decode one audio stream and re-encode it to AAC (Opus for WebM) at its sample rate."""

    def __init__(self, container: Any, source: Any, muxer: str) -> None:
        import av

        self.codec = "libopus" if muxer == "webm" else "aac"
        rate = 48000 if self.codec == "libopus" else source.codec_context.sample_rate
        self.stream = container.add_stream(self.codec, rate=rate)
        # A layout with its channel order (PCM in AVI often says only "1 channels", which AAC refuses).
        channels = source.codec_context.layout.nb_channels
        layout = av.AudioLayout({1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(channels, f"{channels}c"))
        self.stream.layout = layout
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout=layout, rate=rate)
        self.container = container

    def push(self, packet: Any) -> None:
        for frame in packet.decode():
            frame.pts = None  # the resampler and encoder count samples from the stream's start
            for resampled in self.resampler.resample(frame):
                self.container.mux(self.stream.encode(resampled))

    def flush(self) -> None:
        for resampled in self.resampler.resample(None):
            self.container.mux(self.stream.encode(resampled))
        self.container.mux(self.stream.encode(None))


def writer_muxer(target: Path) -> str:
    return _MUXERS.get(target.suffix.lower(), "mp4")
