"""`i2i translate MODEL clip.mp4 --out DIR`: every frame translated, the timing, size and sound kept."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.inference.backend import load_backend
from i2i.inference.pipeline import run_whole
from i2i.models import build
from i2i.preprocess import Preprocess
from tests.inference.clips import audio_seconds, decoded, pan_frames, psnr, write_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def sr2(tmp_path_factory):
    """A ×2 SRResNet of 8 channels, its weights perturbed so the output is not plain bicubic."""
    torch.manual_seed(0)
    net = build("srresnet", {"scale": 2, "channels": 8, "num_blocks": 1, "norm": "none", "output": "linear",
                             "upsample_skip": "bicubic"}).eval()
    for parameter in net.parameters():
        parameter.data.add_(0.02 * torch.randn_like(parameter))
    path = tmp_path_factory.mktemp("sr") / "sr2.safetensors"
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net}, Preprocess(size=32, scale=2),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(path, {"LR->HR": net}, header)
    return path


def translated_as_images(model, frames: list[np.ndarray]) -> list[np.ndarray]:
    """What translating each decoded frame as an image gives (uint8)."""
    backend = load_backend(model)
    outputs = run_whole(backend, [frame.astype(np.float32) / 255 for frame in frames])
    return [np.clip(np.round(o * 255), 0, 255).astype(np.uint8) for o in outputs]


def translate(*args: str):
    return runner.invoke(app, ["translate", *map(str, args)])


def test_clip_keeps_frames_timing_size_and_sound(sr2, tmp_path):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(16, 48, 64))
    result = translate(sr2, clip, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "translated 1 of 1 files" in result.output and "16 video frames" in result.output
    frames_in, times_in = decoded(clip)
    frames_out, times_out = decoded(tmp_path / "out" / "pan.mp4")
    assert len(frames_out) == 16
    assert frames_out[0].shape == (96, 128, 3)
    np.testing.assert_allclose(times_out, times_in, atol=1e-3)
    with av.open(str(clip)) as source, av.open(str(tmp_path / "out" / "pan.mp4")) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(
            float(source.streams.video[0].average_rate), rel=1e-3)
        assert container.streams.audio[0].codec_context.name == "aac"
    assert audio_seconds(tmp_path / "out" / "pan.mp4") == pytest.approx(audio_seconds(clip), abs=0.025)
    expected = translated_as_images(sr2, frames_in)
    assert min(psnr(a, b) for a, b in zip(frames_out, expected, strict=True)) >= 30


def test_variable_frame_rate_and_rotation_are_kept(sr2, tmp_path):
    frames = pan_frames(9, 48, 64)
    times = write_clip(tmp_path / "vfr.mkv", frames, durations=[30, 70, 30] * 3, rotation=90)
    result = translate(sr2, tmp_path / "vfr.mkv", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    frames_in, _ = decoded(tmp_path / "vfr.mkv")
    frames_out, times_out = decoded(tmp_path / "out" / "vfr.mkv")
    np.testing.assert_allclose(times_out, [float(t) for t in times], atol=1e-3)
    # The display matrix turns stored frames 90° counter-clockwise: the output is written upright.
    assert frames_out[0].shape == (128, 96, 3)
    with av.open(str(tmp_path / "out" / "vfr.mkv")) as container:
        assert next(container.decode(video=0)).rotation == 0
    expected = translated_as_images(sr2, [np.ascontiguousarray(np.rot90(f)) for f in frames_in])
    assert min(psnr(a, b) for a, b in zip(frames_out, expected, strict=True)) >= 30


def test_audio_a_container_cannot_hold_is_reencoded(sr2, tmp_path):
    """PCM sound in an .avi: written as clip.mp4 with AAC of the same duration, and said so."""
    write_clip(tmp_path / "old.avi", pan_frames(8, 32, 32), audio="pcm_s16le", codec="mpeg4", muxer="avi")
    result = translate(sr2, tmp_path / "old.avi", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "audio pcm_s16le re-encoded to aac" in result.output
    output = tmp_path / "out" / "old.mp4"
    with av.open(str(output)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        audio = container.streams.audio[0]
        seconds = float(audio.duration * audio.time_base)  # the encoder delay trimmed by the edit list
    # AAC fills its last frame of 1024 samples (23 ms at 44.1 kHz): the sound is that much longer at most.
    assert 0 <= seconds - audio_seconds(tmp_path / "old.avi") <= 1024 / 44100 + 1e-3


def test_webm_is_written_as_vp9_and_codec_flags_apply(sr2, tmp_path):
    write_clip(tmp_path / "a.webm", pan_frames(6, 32, 32), audio="libopus", codec="libvpx-vp9")
    write_clip(tmp_path / "b.mp4", pan_frames(6, 32, 32), audio=None)
    result = translate(sr2, tmp_path / "a.webm", tmp_path / "b.mp4", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "out" / "a.webm")) as container:
        assert [s.codec_context.name for s in container.streams] == ["vp9", "opus"]
    result = translate(sr2, tmp_path / "b.mp4", "--out", tmp_path / "out2", "--video-codec", "libx265",
                       "--crf", "20", "--pix-fmt", "yuv444p")
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "out2" / "b.mp4")) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == ("hevc", "yuv444p")


def test_bad_codec_flags_are_usage_errors(sr2, tmp_path):
    write_clip(tmp_path / "b.mp4", pan_frames(2, 32, 32), audio=None)
    for flags, message in ((["--video-codec", "nosuch"], "no such encoder"),
                           (["--pix-fmt", "rgb24"], "libx264 takes"), (["--crf", "99"], "--crf must be")):
        result = translate(sr2, tmp_path / "b.mp4", "--out", tmp_path / "out", *flags)
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_ten_bit_input_is_written_as_ten_bit(sr2, tmp_path):
    write_clip(tmp_path / "hdr.mkv", pan_frames(4, 32, 32), audio=None, pix_fmt="yuv420p10le")
    assert translate(sr2, tmp_path / "hdr.mkv", "--out", tmp_path / "out").exit_code == 0
    with av.open(str(tmp_path / "out" / "hdr.mkv")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"


def test_folders_and_globs_mix_images_and_videos(sr2, tmp_path):
    from PIL import Image

    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(pan_frames(1, 32, 32)[0]).save(inputs / "still.png")
    write_clip(inputs / "a.mp4", pan_frames(3, 32, 32))
    write_clip(inputs / "sub" / "b.mov", pan_frames(3, 32, 32), audio=None)
    (tmp_path / "renamed.bin").write_bytes((inputs / "a.mp4").read_bytes())  # found by probing
    result = translate(sr2, inputs, tmp_path / "renamed.bin", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "translated 4 of 4 files" in result.output
    for name in ("still.png", "a.mp4", "sub/b.mov", "renamed.mp4"):
        assert (tmp_path / "out" / name).is_file(), name
    result = translate(sr2, f"{inputs}/**/*.mov", "--out", tmp_path / "glob")
    assert result.exit_code == 0 and (tmp_path / "glob" / "sub" / "b.mov").is_file(), result.output


def test_bad_clips_are_named_and_the_rest_finish(sr2, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_clip(inputs / "good.mp4", pan_frames(4, 32, 32))
    write_clip(inputs / "whole.mkv", pan_frames(30, 32, 32), audio=None)
    data = (inputs / "whole.mkv").read_bytes()
    (inputs / "truncated.mkv").write_bytes(data[: len(data) // 2])
    (inputs / "whole.mkv").unlink()
    (inputs / "garbage.mp4").write_bytes(b"\x00\x01 not a video" * 100)
    container = av.open(str(inputs / "sound.mp4"), "w")  # audio only
    stream = container.add_stream("aac", rate=44100)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate, frame.pts = 44100, 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    result = translate(sr2, inputs, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.output
    assert any("truncated.mkv: truncated: its frames end at" in line for line in errors)
    assert any("garbage.mp4: not a readable video" in line for line in errors)
    assert any("sound.mp4: holds no video stream" in line for line in errors)
    assert (tmp_path / "out" / "good.mp4").is_file()
    assert not [p for p in (tmp_path / "out").iterdir() if "i2i-tmp" in p.name]


def test_existing_output_needs_overwrite_and_frames_writes_pngs(sr2, tmp_path):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(5, 32, 32))
    assert translate(sr2, clip, "--out", tmp_path / "out").exit_code == 0
    result = translate(sr2, clip, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "already exists" in result.output
    assert "1 skipped" in translate(sr2, clip, "--out", tmp_path / "out", "--skip-existing").output
    result = translate(sr2, clip, "--out", tmp_path / "frames", "--frames")
    assert result.exit_code == 0, result.output
    from i2i.images import read_image

    pngs = sorted((tmp_path / "frames" / "pan").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(1, 6)]
    expected = translated_as_images(sr2, decoded(clip)[0])
    for png, want in zip(pngs, expected, strict=True):
        got = np.round(read_image(png)[0] * 255).astype(np.int16)
        assert np.abs(got - want).max() <= 1


def test_tiled_frames_match_whole_ones(sr2, tmp_path):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_frames(3, 64, 96), audio=None)
    assert translate(sr2, clip, "--out", tmp_path / "whole").exit_code == 0
    result = translate(sr2, clip, "--out", tmp_path / "tiled", "--tile", "32", "--tile-pad", "8")
    assert result.exit_code == 0, result.output
    whole, tiled = decoded(tmp_path / "whole" / "pan.mp4")[0], decoded(tmp_path / "tiled" / "pan.mp4")[0]
    assert min(psnr(a, b) for a, b in zip(whole, tiled, strict=True)) >= 40


def test_clips_are_sharded_whole_by_rank(sr2, tmp_path, monkeypatch):
    from i2i.inference.run import plan_translation

    for name in ("a", "b", "c"):
        write_clip(tmp_path / f"{name}.mp4", pan_frames(2, 32, 32), audio=None)
    owned = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        plan = plan_translation(sr2, [str(tmp_path / f"{n}.mp4") for n in "abc"], tmp_path / "out")
        owned.append(sorted(job.source.name for variant in plan.variants for job in variant.todo))
        assert plan.work == 2 * len(owned[-1])  # progress counts frames
    assert sorted(owned[0] + owned[1]) == ["a.mp4", "b.mp4", "c.mp4"] and not set(owned[0]) & set(owned[1])


def test_subtitles_are_copied_with_their_timing(sr2, tmp_path):
    from fractions import Fraction

    container = av.open(str(tmp_path / "talk.mkv"), "w")
    video = container.add_stream("libx264", rate=24)
    video.width = video.height = 32
    video.pix_fmt = "yuv420p"
    subtitles = container.add_mux_stream("subrip", time_base=Fraction(1, 1000))
    for index, rgb in enumerate(pan_frames(6, 32, 32)):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, 24)
        container.mux(video.encode(frame))
        if index == 1:
            packet = av.Packet(b"Hello there")
            packet.stream, packet.pts, packet.dts, packet.duration = subtitles, 42, 42, 150
            packet.time_base = Fraction(1, 1000)
            container.mux(packet)
    container.mux(video.encode(None))
    container.close()
    assert translate(sr2, tmp_path / "talk.mkv", "--out", tmp_path / "out").exit_code == 0
    with av.open(str(tmp_path / "out" / "talk.mkv")) as output:
        stream = output.streams.subtitles[0]
        packets = [(bytes(p), float(p.pts * p.time_base)) for p in output.demux(stream) if p.dts is not None]
    assert packets == [(b"Hello there", 0.042)]
