"""The Python API (`i2i.load` → `Translator`): the kind given comes back, and the pixels are the ones
`i2i translate` writes for the same file (torch and onnx backends, a translation and a ×4 SR model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import i2i
from i2i.checkpoint import make_header, save_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.export.onnx import export_onnx
from i2i.methods import FUNIT, MUNIT
from i2i.models import build
from i2i.preprocess import Preprocess
from tests.conftest import photo, tiny_funit, tiny_munit, write_classes, write_styles, write_tiny_checkpoint

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def write_sr_checkpoint(path: Path) -> Path:
    """A ×4 SRResNet of 8 channels and one block, its weights nudged off the zero-initialised last conv."""
    torch.manual_seed(0)
    net = build("srresnet", {"scale": 4, "channels": 8, "num_blocks": 1, "norm": "none", "output": "linear",
                             "upsample_skip": "bicubic"}).eval()
    for parameter in net.parameters():
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    header = make_header("srgan", ["LR", "HR"], {"LR->HR": net}, Preprocess(size=32, scale=4),
                         {"batchnorm": "per_image"}, {}, {"steps": 1})
    save_checkpoint(path, {"LR->HR": net}, header)
    return path


def write_conditioned(method: MUNIT | FUNIT, path: Path) -> Path:
    """An untrained MUNIT/FUNIT checkpoint, as the trainer writes it."""
    exported = method.exported_generators()
    header = make_header(method.recipe.method, method.domains(), exported, method.preprocess(),
                         {"batchnorm": "per_image"}, {}, {"steps": 0}, conditioning=method.header())
    save_checkpoint(path, exported, header)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"pix2pix", "sr"} checkpoints and {"pix2pix.onnx", "sr.onnx"} their exports."""
    root = tmp_path_factory.mktemp("models")
    found = {"pix2pix": root / "pix2pix.safetensors", "sr": write_sr_checkpoint(root / "sr.safetensors")}
    write_tiny_checkpoint(found["pix2pix"])
    for name in ("pix2pix", "sr"):
        found[f"{name}.onnx"] = root / f"{name}.onnx"
        export_onnx(found[name], found[f"{name}.onnx"])
    return found


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8-bit RGB, RGBA and grey PNGs, a 16-bit grey and a 16-bit colour PNG; every size different (no batching)."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    Image.fromarray(photo(1, 37, 45)).save(folder / "rgb.png")
    alpha = rng.integers(0, 256, (29, 40, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([photo(2, 29, 40), alpha], 2), "RGBA").save(folder / "rgba.png")
    Image.fromarray(photo(3, 35, 50)[..., 0], "L").save(folder / "grey.png")
    cv2.imwrite(str(folder / "grey16.png"), (photo(4, 30, 41)[..., 0].astype(np.uint16) * 256 + 91))
    colour16 = photo(5, 27, 33).astype(np.uint16) * 256 + rng.integers(0, 256, (27, 33, 3), dtype=np.uint16)
    cv2.imwrite(str(folder / "colour16.png"), cv2.cvtColor(colour16, cv2.COLOR_RGB2BGR))
    return folder


def pixels(path: Path) -> np.ndarray:
    """A PNG's stored pixels (8 or 16 bits, RGB order), as int64."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_BGRA2RGBA if data.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return data.astype(np.int64)


def translated(model: Path, inputs: Path, out: Path, *flags: str) -> Path:
    result = runner.invoke(app, ["translate", str(model), str(inputs), "--out", str(out), "--device", "cpu", *flags])
    assert result.exit_code == 0, result.output
    return out


def test_import_i2i_is_light():
    code = "import sys, i2i; assert callable(i2i.load); print(sorted({'torch', 'numpy', 'PIL'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("name", ["pix2pix", "sr"])
def test_pil_and_arrays_equal_the_files_translate_writes(models, inputs, tmp_path, name, backend):
    model = models[f"{name}.onnx" if backend == "onnx" else name]
    out = translated(model, inputs, tmp_path / "cli")
    t = i2i.load(model, device="cpu")
    scale = t.scale
    assert scale == (4 if name == "sr" else 1)
    expected_modes = {"rgb.png": "RGB", "rgba.png": "RGBA", "grey.png": "L" if scale > 1 else "RGB",
                      "grey16.png": "I;16"}
    for file, mode in expected_modes.items():
        source = Image.open(inputs / file)
        if file == "grey16.png" and scale == 1:  # 16-bit colour output: Pillow has no such mode
            with pytest.raises(I2IError, match="16-bit colour"):
                t(source)
            continue
        result = t(source)
        assert result.mode == mode and result.size == (source.width * scale, source.height * scale), file
        result.save(tmp_path / file)
        diff = np.abs(pixels(tmp_path / file) - pixels(out / file)).max()
        assert diff == 0, (file, diff)
    # 16-bit colour as a numpy array: uint16 back, the file's values.
    colour16 = pixels(inputs / "colour16.png").astype(np.uint16)
    result = t(colour16)
    assert result.dtype == np.uint16 and result.shape == (27 * scale, 33 * scale, 3)
    assert np.abs(result.astype(np.int64) - pixels(out / "colour16.png")).max() == 0
    # 8-bit RGBA as an array: uint8 RGBA back, equal to the file.
    rgba = np.asarray(Image.open(inputs / "rgba.png"))
    assert np.abs(t(rgba).astype(np.int64) - pixels(out / "rgba.png")).max() == 0


def test_arrays_keep_dtype_and_channels(models):
    t = i2i.load(models["sr"], device="cpu")
    rng = np.random.default_rng(1)
    for shape, dtype in (((9, 11, 3), np.uint8), ((9, 11), np.uint8), ((9, 11, 2), np.uint16),
                         ((9, 11, 4), np.float64), ((9, 11, 1), np.float32)):
        array = rng.random(shape) if np.dtype(dtype).kind == "f" else rng.integers(0, np.iinfo(dtype).max, shape)
        result = t(array.astype(dtype))
        assert result.dtype == dtype and result.shape == (36, 44, *shape[2:]), (shape, dtype)
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    assert np.array_equal(t(grey), np.asarray(t(Image.fromarray(grey, "L"))))   # SR: grey stays grey
    floats = rng.random((9, 11, 3)).astype(np.float32)
    eight_bit = t((floats * 255).round().astype(np.uint8)).astype(np.float64) / 255
    assert np.abs(t(np.round(floats * 255) / 255) - eight_bit).max() <= 0.5 / 255 + 1e-6  # float: unquantised


def test_tensors_keep_layout_dtype_and_device(models):
    t = i2i.load(models["pix2pix"], device="cpu")
    chw = torch.rand(3, 20, 24)
    result = t(chw)
    assert isinstance(result, torch.Tensor) and result.shape == chw.shape and result.dtype == torch.float32
    expected = t(chw.permute(1, 2, 0).numpy())
    assert torch.allclose(result.permute(1, 2, 0), torch.from_numpy(expected), atol=1e-6)
    nchw = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    result = t(nchw)
    assert result.shape == nchw.shape and result.dtype == torch.float64 and result.device == nchw.device
    assert torch.allclose(result[1].float(), t(nchw[1].float()), atol=1e-5)
    if torch.cuda.is_available():
        assert t(chw.cuda()).device.type == "cuda"


def test_a_list_batches_images_of_equal_size(models, monkeypatch):
    t = i2i.load(models["pix2pix"], device="cpu")
    batches = []
    run = t.backend.run
    monkeypatch.setattr(t.backend, "run", lambda batch: batches.append(batch.shape) or run(batch))
    a, b, c = (photo(seed, height, 40) for seed, height in ((1, 32), (2, 24), (3, 32)))
    results = t([a, Image.fromarray(b), c, torch.rand(2, 3, 24, 40)])
    assert [type(r).__name__ for r in results] == ["ndarray", "Image", "ndarray", "Tensor"]
    assert results[3].shape == (2, 3, 24, 40)
    assert sorted(batches) == [(2, 3, 32, 64), (3, 3, 32, 64)]   # a + c; b + the two tensor images (padded)
    assert np.abs(results[0].astype(int) - t(a).astype(int)).max() <= 1


def test_outscale_and_tiles_equal_translates(models, inputs, tmp_path):
    source = tmp_path / "in" / "big.png"
    source.parent.mkdir()
    Image.fromarray(photo(7, 40, 56)).save(source)
    for flags, options in ((["--outscale", "2.5"], {"outscale": 2.5}),
                           (["--tile", "16", "--tile-pad", "8"], {"tile": 16, "tile_pad": 8}),
                           (["--tile", "16", "--tile-pad", "8", "--outscale", "3"],
                            {"tile": 16, "tile_pad": 8, "outscale": 3})):
        out = translated(models["sr"], source.parent, tmp_path / "cli", "--overwrite", *flags)
        t = i2i.load(models["sr"], device="cpu", **options)
        result = t(Image.open(source))
        assert result.size == (int(56 * options.get("outscale", 4)), int(40 * options.get("outscale", 4)))
        assert np.abs(np.asarray(result).astype(int) - pixels(out / "big.png")).max() == 0, flags
    tiled = i2i.load(models["sr"], device="cpu", tile=16, tile_pad=8)
    image = photo(7, 40, 56).astype(np.uint16) * 257
    floats, sixteen = tiled(image.astype(np.float32) / 65535), tiled(image)
    assert floats.dtype == np.float32 and sixteen.dtype == np.uint16
    assert np.abs(floats - sixteen / 65535).max() <= 0.5 / 65535 + 1e-6
    assert np.abs(floats * 65535 - np.round(floats * 65535)).max() > 0.1   # float tiles stay unquantised


def test_translate_files_runs_the_cli_pipeline(models, inputs, tmp_path):
    t = i2i.load(models["pix2pix"], device="cpu")
    report = t.translate_files([inputs / "rgb.png", str(inputs / "rgba.png")], tmp_path / "out")
    assert sorted(p.name for p in report.written) == ["rgb.png", "rgba.png"] and not report.failed
    cli = translated(models["pix2pix"], inputs / "rgb.png", tmp_path / "cli")
    assert np.array_equal(pixels(tmp_path / "out" / "rgb.png"), pixels(cli / "rgb.png"))
    with pytest.raises(I2IError, match="already exists"):
        t.translate_files(inputs / "rgb.png", tmp_path / "out")
    assert t.translate_files(inputs / "rgb.png", tmp_path / "out", skip_existing=True).skipped == [
        tmp_path / "out" / "rgb.png"]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    report = t.translate_files(tmp_path / "bad", tmp_path / "out2")
    assert report.written == [] and "broken.png" in report.failed[0][1]


@pytest.fixture(scope="module")
def munit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("munit")
    data = write_styles(root / "styles")
    torch.manual_seed(0)
    return write_conditioned(MUNIT(tiny_munit(data)), root / "munit.safetensors"), data


def test_munit_style_and_seed_equal_translates(munit, tmp_path):
    model, data = munit
    inputs, reference = data / "A" / "test", data / "B" / "test" / "1.png"
    source = inputs / "0.png"
    for flags, options in ((["--num-styles", "1", "--seed", "3"], {"seed": 3}), ([], {}),
                           (["--style", str(reference)], {"style": reference})):
        out = translated(model, inputs, tmp_path / "cli", "--overwrite", *flags)
        result = i2i.load(model, device="cpu", **options)(Image.open(source))
        assert np.abs(np.asarray(result).astype(int) - pixels(out / "0.png")).max() == 0, flags
    t = i2i.load(model, device="cpu", style=Image.open(reference))
    assert np.array_equal(np.asarray(t(Image.open(source))), pixels(out / "0.png"))
    styles = [np.asarray(t.conditioned(seed=seed)(Image.open(source))) for seed in (0, 1)]
    assert not np.array_equal(*styles)
    with pytest.raises(I2IError, match="either style= .* or seed="):
        i2i.load(model, device="cpu", style=reference, seed=1)
    with pytest.raises(I2IError, match="class_images= is for FUNIT"):
        i2i.load(model, device="cpu", class_images=inputs)


def test_funit_class_images_equal_translates(tmp_path):
    data = write_classes(tmp_path / "classes")
    torch.manual_seed(0)
    model = write_conditioned(FUNIT(tiny_funit(data)), tmp_path / "funit.safetensors")
    unseen = next(p for p in sorted((data / "unseen").iterdir()) if p.is_dir())
    source = next(p for p in sorted((data / "train").rglob("*.png")))
    out = translated(model, source, tmp_path / "cli", "--class-images", str(unseen))
    for class_images in (unseen, [Image.open(p) for p in sorted(unseen.glob("*.png"))]):
        result = i2i.load(model, device="cpu", class_images=class_images)(Image.open(source))
        assert np.abs(np.asarray(result).astype(int) - pixels(out / source.name)).max() == 0
    with pytest.raises(I2IError, match="class_images="):
        i2i.load(model, device="cpu")
    with pytest.raises(I2IError, match="class_images="):
        i2i.load(model, device="cpu", class_images=unseen, seed=1)


def test_wrong_kinds_are_loud_errors(models, inputs, tmp_path):
    with pytest.raises(I2IError, match="style=: .* not a MUNIT/FUNIT model"):
        i2i.load(models["pix2pix"], device="cpu", style=inputs / "rgb.png")
    with pytest.raises(I2IError, match="seed=, class_images=: .* not a MUNIT/FUNIT model"):
        i2i.load(models["pix2pix.onnx"], seed=1, class_images=inputs)
    with pytest.raises(I2IError, match="outscale must be positive"):
        i2i.load(models["sr"], outscale=0)
    with pytest.raises(I2IError, match="feather"):
        i2i.load(models["sr"], tile=16, tile_pad=2, tile_feather=8)
    with pytest.raises(I2IError, match="does not exist"):
        i2i.load(tmp_path / "missing.onnx")
    t = i2i.load(models["pix2pix"], device="cpu")
    for image, message in ((np.zeros((8, 8, 5), np.uint8), "C = 1, 2, 3 or 4"),
                           (np.zeros((3, 8, 8), np.float32), r"channels first\?"),
                           (np.zeros((2, 8, 8, 3), np.uint8), "H×W or H×W×C"),
                           (np.zeros((8, 8, 3), np.int32), "uint8, uint16 or float"),
                           (np.full((8, 8, 3), 2.0), r"values in \[0, 1\]"),
                           (np.zeros((0, 8, 3), np.uint8), "empty"),
                           (torch.zeros(3, 8, 8, dtype=torch.uint8), "float in"),
                           (torch.zeros(8, 8), "C×H×W"),
                           (str(inputs / "rgb.png"), "translate_files"),
                           (Image.new("I", (8, 8), -5), "32-bit integer")):
        with pytest.raises(I2IError, match=message):
            t(image)


def test_the_docs_examples_run(models, munit, tmp_path, monkeypatch):
    """Every ```python block of docs/python-api.md, run in a folder holding the files it names."""
    for name in ("pix2pix", "pix2pix.onnx", "sr"):
        os.symlink(models[name], tmp_path / Path(models[name]).name)
    (tmp_path / "photos").mkdir()
    for index in range(3):
        Image.fromarray(photo(index, 40, 48)).save(tmp_path / "photos" / f"p{index}.png")
    Image.fromarray(photo(9, 36, 52)).save(tmp_path / "photo.png")
    os.symlink(munit[0], tmp_path / "munit.safetensors")
    os.symlink(munit[1] / "B" / "test" / "1.png", tmp_path / "style.png")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})  # noqa: S102 -- our own docs, run as documented
