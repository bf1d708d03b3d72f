"""Decoding within a memory budget: an image is priced from its header before anything is decoded, and
refused in one line naming it (with the way out) when it would not fit; with --tile a huge image is
never a float copy, and its PNG is written band by band.

The bombs run in a subprocess under a real address-space limit (RLIMIT_AS, set above the process's own
baseline, measured first): every file is named, refused or tiled, and the process is never killed.
"""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from i2i.checkpoint import make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.images import limit_reads, read_header, read_image, write_image
from i2i.inference.backend import Backend
from i2i.inference.budget import Costs, Ledger
from i2i.inference.jobs import Job
from i2i.inference.pipeline import fit_output, run_tiled, translate_files
from i2i.inference.tiling import TileSpec
from i2i.memory import read_cost
from i2i.models import SRVGGNet
from i2i.models.srvgg import SRVGGNetConfig
from i2i.preprocess import Preprocess
from tests.conftest import write_pairs, write_tiny_checkpoint

MiB = 1 << 20


# -- files whose headers claim huge images ------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """An RGB PNG whose header claims width × height (its data is a few bytes)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        _chunk(b"IEND", b"")


def one_bit_png(side: int) -> bytes:
    """A real, complete 1-bit PNG of side × side black pixels: 30000² is 109 KB, 900 megapixels."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """A small JPEG with its frame header (SOF0) edited to claim width × height."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_header(width: int, height: int) -> bytes:
    """A grey TIFF whose tags claim width × height, one strip of data it does not have."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8),
               (277, 3, 1), (278, 4, height), (279, 4, (width * height) % 2**32)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, 1, value, 0)
        for tag, kind, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 64


def identity_checkpoint(path: Path) -> Path:
    """The tiniest fast network: SRVGG ×1 with 4 channels and a zero last convolution, so its output is
    its input (+ the nearest-upsampled input): translations can be checked pixel for pixel."""
    net = SRVGGNet(SRVGGNetConfig(scale=1, channels=4, num_convs=0))
    with torch.no_grad():
        for parameter in net.tail.parameters():
            parameter.zero_()
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net},
                         Preprocess(size=32, mean=(0.0,) * 3, std=(1.0,) * 3), {"batchnorm": "running"}, {}, {})
    save_checkpoint(path, {"LR->HR": net}, header)
    return path


# -- i2i translate in a subprocess, measured and limited ----------------------------------------------
# Runs `python -m i2i …` and prints its peak virtual size and peak resident size (MiB) at exit.
_MEASURED = """
import atexit, runpy, sys
def report():
    status = open("/proc/self/status").read()
    peak = lambda key: int(status.split(key + ":")[1].split()[0]) // 1024
    print(f"measured: VmPeak {peak('VmPeak')} VmHWM {peak('VmHWM')}", file=sys.stderr)
atexit.register(report)
sys.argv = ["i2i", *sys.argv[1:]]
runpy.run_module("i2i", run_name="__main__", alter_sys=True)
"""


def translate(arguments: list[str], address_space: int | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    result = subprocess.run([sys.executable, "-c", _MEASURED, "translate", *arguments, "--device", "cpu"],
                            capture_output=True, text=True, timeout=300, preexec_fn=limit, check=False)
    line = next((line for line in result.stderr.splitlines() if line.startswith("measured: ")), "")
    numbers = line.split()
    peaks = {numbers[i]: int(numbers[i + 1]) * MiB for i in range(1, len(numbers) - 1, 2)}
    return result, peaks


def errors(result: subprocess.CompletedProcess) -> dict[str, str]:
    """{file name: its error line} from translate's stderr."""
    found = {}
    for line in result.stderr.splitlines():
        if line.startswith("error: "):
            found[Path(line[7:].split(":")[0]).name] = line
    return found


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    write_tiny_checkpoint(folder / "unet.safetensors")
    return {"unet": folder / "unet.safetensors", "identity": identity_checkpoint(folder / "identity.safetensors")}


@pytest.fixture(scope="module")
def baseline(models, tmp_path_factory) -> dict[str, int]:
    """The peak address space and resident size of translating one small image: the limits below are
    set above it, so that they bound what the images cost, not the runtime's own mappings."""
    folder = tmp_path_factory.mktemp("baseline")
    write_image(folder / "in" / "small.png", np.full((48, 64, 3), 0.5))
    result, peaks = translate([str(models["identity"]), str(folder / "in"), "--out", str(folder / "out")])
    assert result.returncode == 0, result.stderr
    return peaks


def test_bombs_are_named_and_refused_under_a_memory_limit_never_killed(models, baseline, tmp_path):
    """PNG, JPEG and TIFF headers claiming gigapixels, and a real 1-bit 30000² PNG (109 KB, 900
    megapixels: today's OOM kill): each is refused from its header, in one line with its size, the
    estimate and the budget; the small image beside them is written."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "claims.png").write_bytes(png_header(60_000, 60_000))
    (folder / "claims.jpg").write_bytes(jpeg_header(65_000, 65_000))
    (folder / "claims.tif").write_bytes(tiff_header(100_000, 100_000))
    (folder / "one_bit.png").write_bytes(one_bit_png(30_000))
    write_image(folder / "small.png", np.full((40, 56, 3), 0.25))
    limit = baseline["VmPeak"] + 2048 * MiB
    result, _ = translate([str(models["unet"]), str(folder), "--out", str(tmp_path / "out")], limit)
    assert result.returncode == 1, result.stderr          # not -9: named, never killed
    assert "Traceback" not in result.stderr
    named = errors(result)
    assert sorted(named) == ["claims.jpg", "claims.png", "claims.tif", "one_bit.png"], result.stderr
    for name, size in (("claims.png", "60000×60000 (3,600"), ("claims.jpg", "65000×65000 (4,225"),
                       ("claims.tif", "100000×100000 (10,000"), ("one_bit.png", "30000×30000 (900")):
        line = named[name]
        assert f"{size} megapixels) would need about " in line and " GB to translate it whole, more than the " in line
        assert "this process can spare" in line and "to try anyway" in line, line
    # The 1-bit image fits in tiles (Pillow keeps it in 0.9 GB): the refusal says so.
    assert "use --tile 512 (about 1." in named["one_bit.png"], named["one_bit.png"]
    assert "downscale or crop it" in named["claims.tif"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]


def test_with_tiles_a_large_1_bit_image_is_translated_and_a_huge_one_refused(models, baseline, tmp_path):
    """Under 1 GB of room: a 4000² 1-bit PNG goes through the identity network in tiles (its whole
    float path would need gigabytes) and comes out exact; the 30000² one does not fit even in tiles and
    is refused from its header. Peak memory stays within the 8-bit input + the output + 1 GB."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    side = 4000
    pattern = np.kron(rng.random((side // 8, side // 8)) > 0.5, np.ones((8, 8), bool))
    pattern ^= rng.random((side, side)) > 0.97                      # and some single pixels
    Image.fromarray(pattern).save(folder / "large.png")             # mode "1"
    (folder / "huge.png").write_bytes(one_bit_png(30_000))
    out = tmp_path / "out"
    result, peaks = translate([str(models["identity"]), str(folder), "--out", str(out), "--tile", "512"],
                              baseline["VmPeak"] + 1024 * MiB)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    named = errors(result)
    assert list(named) == ["huge.png"], result.stderr
    assert "30000×30000 (900 megapixels) would need about 1." in named["huge.png"]
    assert "GB to translate it in tiles" in named["huge.png"] and "downscale or crop it" in named["huge.png"]
    written = cv2.imread(str(out / "large.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (side, side, 3)
    assert np.array_equal(written, np.repeat(pattern[:, :, None] * np.uint8(255), 3, axis=2))
    input_bytes, output_bytes = side * side, side * side * 3       # 8-bit grey in, RGB out
    assert peaks["VmHWM"] <= input_bytes + output_bytes + 1024 * MiB, peaks


# -- the estimate -------------------------------------------------------------------------------------
_READ_PEAK = """
import sys
import cv2  # imported by the 16-bit path on first use: library code, not the image's memory
from i2i.images import read_header, read_image
from i2i.memory import read_cost
def peak():
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
path = sys.argv[1]
estimate = read_cost(read_header(path))
before = peak()
read_image(path)
print(before, peak(), estimate)
"""


def test_the_read_estimate_bounds_what_decoding_takes(tmp_path):
    """read_image's peak (measured: VmHWM of a fresh process) never exceeds its estimate, which is
    within 2.5× of it, for RGB, RGBA, grey, 1-bit, palette and 16-bit files."""
    rng = np.random.default_rng(0)
    base = (rng.random((1500, 2000, 3)) * 255).astype(np.uint8)
    Image.fromarray(base).save(tmp_path / "rgb.png", compress_level=1)
    Image.fromarray(np.dstack([base, base[:, :, :1]])).save(tmp_path / "rgba.png", compress_level=1)
    Image.fromarray(base[:, :, 0]).save(tmp_path / "grey.png", compress_level=1)
    Image.fromarray(base[:, :, 0] > 127).save(tmp_path / "one_bit.png")
    Image.fromarray(base).quantize(16).save(tmp_path / "palette.png")
    cv2.imwrite(str(tmp_path / "deep.png"), base.astype(np.uint16) * 257, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    for path in sorted(tmp_path.iterdir()):
        result = subprocess.run([sys.executable, "-c", _READ_PEAK, str(path)], capture_output=True, text=True,
                                check=True)
        before, after, estimate = map(int, result.stdout.split())
        used = after - before
        assert used <= estimate <= 2.5 * used + 16 * MiB, (path.name, used / MiB, estimate / MiB)


def test_the_translate_estimate_follows_the_path(tmp_path):
    """Tiles cost the image as decoded (Pillow: 1 byte a 1-bit pixel, 4 an RGB one), not its float
    copy; a streamed PNG holds no output; whole images pay for the network's activations."""
    costs = Costs(network=128, tile=TileSpec(512))
    (tmp_path / "one_bit.png").write_bytes(one_bit_png(30_000))
    (tmp_path / "rgb.png").write_bytes(png_header(30_000, 30_000))
    one_bit, rgb = read_header(tmp_path / "one_bit.png"), read_header(tmp_path / "rgb.png")
    pixels = 30_000 ** 2
    assert costs.tiled(one_bit) and costs.tiled(rgb)
    assert pixels <= costs.in_tiles(one_bit, streamed=True) <= pixels + 800 * MiB
    assert 4 * pixels <= costs.in_tiles(rgb, streamed=True) <= 4 * pixels + 800 * MiB
    held = costs.in_tiles(rgb, streamed=False)
    assert held >= 4 * pixels + 3 * pixels                          # + the RGB output as integers
    assert costs.whole(rgb) >= pixels * (12 + 12 + 128 + 12)        # image, batch, activations, output
    assert read_cost(rgb) >= pixels * (3 + 12)                      # uint8 + float32


# -- the budget inside a run --------------------------------------------------------------------------
def _backend(scale: int = 1, multiple_of: int = 4) -> Backend:
    def run(batch: np.ndarray) -> np.ndarray:
        out = batch[:, ::-1] * 0.8 + 0.1
        return out.repeat(scale, 2).repeat(scale, 3) if scale > 1 else out

    return Backend(run, Preprocess(size=8, multiple_of=multiple_of, scale=scale), "A->B", "numpy")


def test_images_in_flight_share_the_budget_without_deadlock(tmp_path, monkeypatch):
    """A budget that holds one image at a time (batch size 4 would want four): every image is written,
    in turn, and the ledger never holds more than the budget."""
    for index in range(12):
        write_image(tmp_path / "in" / f"x{index:02d}.png", np.random.default_rng(index).random((64, 64, 3)))
    jobs = [Job(path, tmp_path / "out" / path.name) for path in sorted((tmp_path / "in").iterdir())]
    backend = _backend()
    cost = Costs(network=4 * 64 * 8, multiple_of=4).whole(read_header(jobs[0].source))
    monkeypatch.setattr("i2i.memory.spare_memory", lambda: int(cost * 1.5))
    held: list[int] = []
    reserve = Ledger.reserve

    def recorded(self: Ledger, ticket: int, amount: int) -> None:
        reserve(self, ticket, amount)
        held.append(self.used)

    monkeypatch.setattr(Ledger, "reserve", recorded)
    reports = []
    worker = threading.Thread(target=lambda: reports.append(translate_files(backend, jobs, batch_size=4)))
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the run waited for memory nothing would release"
    assert len(reports[0].written) == 12 and not reports[0].failed
    assert max(held) <= cost * 1.5


def test_ledger_serves_in_order_and_waits_for_memory():
    ledger = Ledger(100)
    ledger.reserve(0, 60)
    order: list[int] = []
    second = threading.Thread(target=lambda: (ledger.reserve(2, 10), order.append(2)))
    first = threading.Thread(target=lambda: (ledger.reserve(1, 60), order.append(1)))
    second.start()
    first.start()
    first.join(0.3)
    assert order == [] and ledger.waiting          # ticket 1 waits for memory; 2 waits for its turn
    ledger.release(60)
    first.join(5)
    second.join(5)
    assert order == [1, 2] and ledger.used == 70
    closed = Ledger(10)
    closed.reserve(0, 10)
    late = threading.Thread(target=closed.reserve, args=(1, 10))
    late.start()
    closed.close()                                  # an ending run: nobody waits any more
    late.join(5)
    assert not late.is_alive()


def test_max_megapixels_replaces_the_estimate(tmp_path, monkeypatch):
    write_image(tmp_path / "in" / "a.png", np.full((40, 50, 3), 0.5))
    job = Job(tmp_path / "in" / "a.png", tmp_path / "out" / "a.png")
    report = translate_files(_backend(), [job], max_megapixels=0.001)
    reason = f"{job.source}: 50×40 (0.002 megapixels) is over --max-megapixels 0.001; downscale or crop it, or raise the limit"
    assert report.failed == [(job.source, reason)]
    monkeypatch.setattr("i2i.memory.spare_memory", lambda: 1000)    # the estimate refuses everything …
    report = translate_files(_backend(), [job])
    assert "would need about" in report.failed[0][1] and "more than the 0 MiB this process can spare" \
        in report.failed[0][1]
    report = translate_files(_backend(), [job], max_megapixels=1)  # … the user's pixel limit takes over
    assert report.written == [job.target]
    with pytest.raises(I2IError, match="--max-megapixels must be positive"):
        translate_files(_backend(), [job], max_megapixels=0)


# -- tiles from the decoded image, and the streamed PNG ----------------------------------------------
def _inputs(folder: Path) -> list[Path]:
    rng = np.random.default_rng(1)
    rgb = (rng.random((45, 70, 3)) * 255).astype(np.uint8)
    folder.mkdir()
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(np.dstack([rgb, rgb[:, :, :1]])).save(folder / "rgba.png")
    Image.fromarray(rgb[:, :, 0]).convert("LA").save(folder / "la.png")
    Image.fromarray(rgb).quantize(8).save(folder / "palette.png", transparency=2)
    Image.fromarray(rgb[:, :, 0] > 100).save(folder / "one_bit.png")
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(folder / "grey16.png")
    cv2.imwrite(str(folder / "deep.png"), rgb.astype(np.uint16) * 250)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif)
    return sorted(folder.iterdir())


def _pixels(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("scale", [1, 2])
def test_tiles_read_from_the_decoded_file_equal_the_float_path(tmp_path, scale):
    """Every kind of input translated in tiles straight from its decode (PNG: streamed band by band;
    TIFF: held and written) gives the very pixels of the float path: read_image → tiles → write_image."""
    backend, tile = _backend(scale), TileSpec(16, 8, 8)
    for source in _inputs(tmp_path / "in"):
        streamed, held = tmp_path / "png" / f"{source.stem}.png", tmp_path / "tif" / f"{source.stem}.tif"
        report = translate_files(backend, [Job(source, streamed), Job(source, held)], tile=tile)
        assert not report.failed and len(report.written) == 2, report
        rgb, alpha, info = read_image(source)
        dtype = np.uint16 if info.bits >= 16 else np.uint8
        output, alpha = fit_output(run_tiled(backend, rgb, tile, dtype), alpha, *rgb.shape[:2], scale, None)
        grey = scale > 1 and info.grayscale
        for target in (streamed, held):
            expected = tmp_path / "expected" / target.name
            write_image(expected, output, alpha=alpha, bits=16 if dtype == np.uint16 else 8, grayscale=grey)
            assert np.array_equal(_pixels(target), _pixels(expected)), (source.name, target.suffix)


def test_the_training_data_and_eval_read_through_the_same_guard(tmp_path):
    from i2i.data.paired import read_rgb

    (tmp_path / "huge.png").write_bytes(png_header(60_000, 60_000))
    with pytest.raises(I2IError, match=r"huge.png: 60000×60000 \(3,600 megapixels\) would need about .* GB to "
                                       r"decode it, more than the .* this process can spare"):
        read_rgb(tmp_path / "huge.png")
    write_image(tmp_path / "small.png", np.zeros((1000, 1500, 3)))
    try:
        limit_reads(1)
        with pytest.raises(I2IError, match=r"small.png: 1500×1000 \(1.5 megapixels\) is over --max-megapixels 1"):
            read_rgb(tmp_path / "small.png")
    finally:
        limit_reads(None)
    assert read_rgb(tmp_path / "small.png").shape == (1000, 1500, 3)
    from typer.testing import CliRunner

    from i2i.cli import app

    data, checkpoint = tmp_path / "pairs", tmp_path / "model.safetensors"
    write_pairs(data, "test", 2)
    write_tiny_checkpoint(checkpoint)
    try:
        result = CliRunner().invoke(app, ["eval", str(checkpoint), "--data", str(data), "--metrics", "l1",
                                          "--max-megapixels", "0.0005"])
    finally:
        limit_reads(None)
    assert result.exit_code == 2, result.output
    assert "32×32 (0.001 megapixels) is over --max-megapixels 0.0005" in " ".join(result.output.split())
