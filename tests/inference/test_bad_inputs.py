"""Every awkward input `i2i translate` may meet, each with its stated behaviour.

One folder holds all the cases and one `i2i translate` runs over it: the unreadable files are each
named once (exit status 1), the readable ones are all written, converted as `i2i.images` states.
"""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps
from typer.testing import CliRunner

from i2i.cli import app
from i2i.images import ImageReadError, read_image
from i2i.memory import MemoryLimit
from tests.conftest import write_tiny_checkpoint

# i2i.images silences this warning process-wide (it raises its own error instead); pytest resets the
# warning filters around each test, so say it again here.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
rng = np.random.default_rng(0)


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG file written byte by byte: for what Pillow cannot write (16-bit grey + alpha) or would
    refuse to (a header claiming absurd dimensions)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _pixels(*shape: int) -> np.ndarray:
    return (rng.random(shape) * 255).astype(np.uint8)


# name → why it cannot be translated (the phrase the error line must contain)
FAILING = {
    "empty.png": "empty file (0 bytes)",
    "cut.png": "truncated or corrupt image data",
    "cut.jpg": "truncated or corrupt image data",
    "notes.png": "not an image",
    "absurd.png": "image too large (its header claims over 17,180 megapixels)",
    "large.png": "40000×40000 (1,600 megapixels) would need about ",
}
SPARE = 8 * 10**9   # what the process may spare, fixed so that the refusals read the same on any machine
GOOD = ["plain.png", "grey.png", "grey_alpha.png", "rgba.png", "palette.png", "deep.png", "deep_grey.png",
        "cmyk.jpg", "rotated.jpg"]
PALETTE_ALPHA = np.array([255, 128, 0, 255], np.uint8)   # per-entry transparency of the palette image


def _write_cases(folder: Path) -> None:
    folder.mkdir()
    Image.fromarray(_pixels(24, 40, 3)).save(folder / "plain.png")
    Image.fromarray(_pixels(24, 40), "L").save(folder / "grey.png")
    Image.fromarray(_pixels(24, 40, 2), "LA").save(folder / "grey_alpha.png")
    Image.fromarray(_pixels(24, 40, 4), "RGBA").save(folder / "rgba.png")
    palette = Image.fromarray((rng.random((24, 40)) * 4).astype(np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 40, 40, 40])
    palette.save(folder / "palette.png", transparency=PALETTE_ALPHA.tobytes())
    cv2.imwrite(str(folder / "deep.png"), (rng.random((24, 40, 3)) * 65535).astype(np.uint16))
    cv2.imwrite(str(folder / "deep_grey.png"), (rng.random((24, 40)) * 65535).astype(np.uint16))
    Image.fromarray(_pixels(24, 40, 4), "CMYK").save(folder / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6                       # stored 40 wide × 24 high, shown rotated 90° clockwise
    Image.fromarray(_pixels(24, 40, 3)).save(folder / "rotated.jpg", exif=exif)

    (folder / "empty.png").write_bytes(b"")
    png = (folder / "plain.png").read_bytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    jpeg = (folder / "rotated.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "notes.png").write_text("a text file with an image's name\n")
    # Headers only: decoding either would need gigabytes. Above twice Pillow's (raised) limit it refuses
    # in open(); below, the memory estimate refuses from the header.
    (folder / "absurd.png").write_bytes(_png(200_000, 200_000, 8, 2, b"\0" * 64))
    (folder / "large.png").write_bytes(_png(40_000, 40_000, 8, 2, b"\0" * 64))


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    write_tiny_checkpoint(root / "model.safetensors")
    _write_cases(root / "in")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("i2i.memory.spare_memory", lambda: SPARE)
        result = CliRunner().invoke(app, ["translate", str(root / "model.safetensors"), str(root / "in"),
                                          "--out", str(root / "out"), "--device", "cpu"])
    return root, result


def test_each_bad_file_is_named_once_and_the_others_are_written(translated):
    root, result = translated
    assert result.exit_code == 1, result.output
    for name, reason in FAILING.items():
        assert result.output.count(name) == 1, name
        assert f"error: {root / 'in' / name}: {reason}" in result.output
    assert "Traceback" not in result.output
    # The memory refusal names the estimate, the budget and the ways out: tiles fit (Pillow keeps the
    # 1.6-gigapixel RGB image in 6.4 GB), or the user's own pixel limit.
    assert "GB to translate it whole, more than the 8.0 GB this process can spare; use --tile 512 (about " \
           "7." in result.output and "or --max-megapixels 1600 to try anyway" in result.output
    assert sorted(p.name for p in (root / "out").iterdir()) == sorted(GOOD)
    assert f"translated {len(GOOD)} of {len(GOOD) + len(FAILING)} images (0 skipped as existing, " \
           f"{len(FAILING)} failed)" in result.output


@pytest.mark.parametrize("name, mode", [("plain.png", "RGB"), ("grey.png", "RGB"), ("grey_alpha.png", "RGBA"),
                                        ("rgba.png", "RGBA"), ("palette.png", "RGBA"), ("cmyk.jpg", "RGB")])
def test_output_mode_and_size(translated, name, mode):
    """Grey comes out RGB (a translation model may colour it), alpha — of LA, RGBA and palette
    transparency — is carried over, CMYK comes out RGB; the size is the input's."""
    root, _ = translated
    with Image.open(root / "out" / name) as output:
        assert (output.mode, output.size) == (mode, (40, 24))


@pytest.mark.parametrize("name", ["grey_alpha.png", "rgba.png"])
def test_alpha_is_kept_exactly(translated, name):
    root, _ = translated
    source, output = (np.asarray(Image.open(root / folder / name)) for folder in ("in", "out"))
    assert np.array_equal(output[..., 3], source[..., -1])


def test_palette_transparency_becomes_alpha(translated):
    root, _ = translated
    indices = np.asarray(Image.open(root / "in" / "palette.png"))
    output = np.asarray(Image.open(root / "out" / "palette.png"))
    assert np.array_equal(output[..., 3], PALETTE_ALPHA[indices])


@pytest.mark.parametrize("name", ["deep.png", "deep_grey.png"])
def test_16bit_input_gives_16bit_output(translated, name):
    root, _ = translated
    output = cv2.imread(str(root / "out" / name), cv2.IMREAD_UNCHANGED)
    assert output.dtype == np.uint16 and output.shape == (24, 40, 3)
    assert len(np.unique(output)) > 256    # really 16 bits of values, not 8 bits scaled up


def test_exif_rotated_jpeg_is_translated_upright(translated):
    root, _ = translated
    assert Image.open(root / "in" / "rotated.jpg").size == (40, 24)
    assert Image.open(root / "out" / "rotated.jpg").size == (24, 40)   # the rotated size


def test_cmyk_jpeg_is_converted_as_pillow_does(translated):
    root, _ = translated
    path = root / "in" / "cmyk.jpg"
    assert Image.open(path).mode == "CMYK"
    rgb, alpha, info = read_image(path)
    assert info.mode == "CMYK" and alpha is None
    assert np.array_equal(rgb, np.asarray(Image.open(path).convert("RGB"), np.float32) / 255)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_pixels(6, 10, 3)).save(tmp_path / "o.jpg", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.jpg")), np.float32) / 255
    assert np.array_equal(read_image(tmp_path / "o.jpg")[0], expected)


def test_16bit_grey_alpha_png_keeps_16_bits_and_stays_grey(tmp_path):
    """Pillow decodes 16-bit grey + alpha to 8-bit RGBA; read_image keeps every bit."""
    data = (rng.random((5, 7, 2)) * 65535).astype(np.uint16)
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in data)
    (tmp_path / "ga16.png").write_bytes(_png(7, 5, 16, 4, rows))
    rgb, alpha, info = read_image(tmp_path / "ga16.png")
    assert (info.bits, info.grayscale, info.has_alpha) == (16, True, True)
    assert np.array_equal(np.round(alpha * 65535).astype(np.uint16), data[..., 1])


def test_oversized_header_is_refused_before_any_decoding(tmp_path, monkeypatch):
    (tmp_path / "large.png").write_bytes(_png(40_000, 40_000, 8, 2, b"\0" * 64))

    def no_decoding(self):
        raise AssertionError("the pixels must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    # float32 RGB (19.2 GB) + the uint8 decode: 24 GB at the peak
    with pytest.raises(ImageReadError, match=r"large.png: 40000×40000 \(1,600 megapixels\) would need about "
                                             r"24.0 GB to decode it, more than the 8.0 GB this process can spare"):
        read_image(tmp_path / "large.png", limit=MemoryLimit(spare=SPARE))
    with pytest.raises(ImageReadError, match=r"large.png: 40000×40000 \(1,600 megapixels\) is over "
                                             r"--max-megapixels 1000"):
        read_image(tmp_path / "large.png", limit=MemoryLimit(max_megapixels=1000))
