"""The contract every registered method keeps, checked the same way for each (`METHODS`):

one training step in which every generator parameter gets a gradient; save → load → the same output;
translating a file through the inference pipeline; export → ONNX Runtime gives what PyTorch gives.
A method added to the registry without a tiny builder here fails `test_every_method_has_a_tiny_builder`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i.checkpoint import load_checkpoint
from i2i.config import override
from i2i.export.onnx import export_onnx
from i2i.images import read_image, write_image
from i2i.inference.backend import Backend, load_backend
from i2i.inference.jobs import collect_jobs
from i2i.inference.pipeline import translate_files
from i2i.inference.variants import conditioned_variants
from i2i.methods import METHODS, Method, Recipe
from i2i.train.trainer import Trainer, weighted_total
from tests.conftest import (
    tiny_cyclegan,
    tiny_funit,
    tiny_munit,
    tiny_recipe,
    tiny_srgan,
    write_classes,
    write_domains,
    write_hr_photos,
    write_pairs,
    write_styles,
)


def _pairs(root: Path) -> Path:
    write_pairs(root, "train", 6)
    write_pairs(root, "test", 2, seed=1)
    return root


# name → (writes the data under a folder, the tiny recipe for it, the conditioning flags translate needs)
BUILDERS: dict[str, tuple[Callable[[Path], Path], Callable[..., Recipe], Callable[[Path], dict]]] = {
    "pix2pix": (_pairs, tiny_recipe, lambda data: {}),
    "cyclegan": (write_domains, tiny_cyclegan, lambda data: {}),
    "munit": (write_styles, tiny_munit, lambda data: {"num_styles": 1, "seed": 3}),
    "funit": (write_classes, tiny_funit, lambda data: {"class_images": data / "unseen" / "class03"}),
    "srgan": (write_hr_photos, tiny_srgan, lambda data: {}),
}


def test_every_method_has_a_tiny_builder():
    assert set(BUILDERS) == set(METHODS)


@pytest.fixture(scope="module", params=sorted(METHODS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, vgg_file: Path):
    """(name, data folder, trainer after 2 steps, the batch of its first step's gradient check)."""
    name = request.param
    write, tiny, _ = BUILDERS[name]
    folder = tmp_path_factory.mktemp(name)
    data = write(folder / "data")
    recipe = override(tiny(data), {"steps": 2, "log": {"sample_every": 2, "checkpoint_every": 100}})
    if name == "srgan":
        recipe = override(recipe, {"perceptual": {"weights": str(vgg_file)}})
    trainer = Trainer(METHODS[name](recipe), folder / "run")
    gradients = _generator_gradients(trainer)
    trainer.fit()
    return name, data, trainer, gradients


def _generator_gradients(trainer: Trainer) -> dict[str, bool]:
    """parameter name → whether the generator losses of one batch reach it (then the grads are cleared)."""
    method: Method = trainer.method
    batch = next(iter(trainer._loader()))
    batch = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
    method.train()
    losses, _ = method.generator_losses(batch)
    weighted_total(losses, method.weights_for(losses)).backward()
    reached = {name: p.grad is not None for name, p in method.generators.named_parameters()}
    trainer.optimizer_g.zero_grad(set_to_none=True)
    trainer.optimizer_d.zero_grad(set_to_none=True)
    return reached


def _input(trainer: Trainer) -> np.ndarray:
    size = trainer.preprocess.size if trainer.method.data_kind != "superres" else 8
    return np.random.default_rng(0).random((1, 3, size, size), np.float32)


def _bound(backend: Backend, name: str, data: Path, jobs: list) -> list[tuple[Backend, list]]:
    return conditioned_variants(backend, jobs, **BUILDERS[name][2](data))


def test_one_step_reaches_every_generator_parameter(trained):
    name, _, _, reached = trained
    missed = [parameter for parameter, got in reached.items() if not got]
    assert reached and not missed, f"{name}: no gradient for {missed}"


def test_save_load_gives_the_same_output(trained):
    name, data, trainer, _ = trained
    checkpoint = load_checkpoint(trainer.run_dir)
    assert checkpoint.header["method"] == name and checkpoint.header["trained"]["steps"] == 2
    image = _input(trainer)
    for direction in trainer.method.exported_generators():
        saved = load_backend(trainer.run_dir, to=direction.split("->")[-1], device="cpu")
        live = trainer.deployed(direction)
        codes = ()
        if saved.run_with_code is not None:  # the same code for both: the one a reference image gives
            codes = (saved.encode(image),)
            assert np.array_equal(codes[0], live.encode(torch.from_numpy(image)).detach().numpy())
        with torch.no_grad():
            expected = live(torch.from_numpy(image), *(torch.from_numpy(c) for c in codes)).numpy()
        output = saved.run_with_code(image, *codes) if codes else saved.run(image)
        assert np.array_equal(output, expected), direction


def test_translates_a_file(trained, tmp_path):
    name, data, trainer, _ = trained
    source = tmp_path / "in" / "photo.png"
    write_image(source, _input(trainer)[0].transpose(1, 2, 0))
    backend = load_backend(trainer.run_dir, device="cpu")
    for variant, jobs in _bound(backend, name, data, collect_jobs([str(source)], tmp_path / "out")):
        report = translate_files(variant, jobs)
        assert report.written == [job.target for job in jobs] and not report.failed
        rgb, _, _ = read_image(jobs[0].target)
        side = _input(trainer).shape[-1] * backend.preprocess.scale
        assert rgb.shape == (side, side, 3)


def test_export_matches_pytorch_in_onnxruntime(trained, tmp_path):
    name, data, trainer, _ = trained
    report = export_onnx(trainer.run_dir, tmp_path / f"{name}.onnx")
    assert report.parity and all(diff <= report.tolerance for _, diff in report.parity)
    image = _input(trainer)
    torch_backend, onnx_backend = (load_backend(model, device="cpu") for model in (trainer.run_dir, report.path))
    jobs = collect_jobs([str(write_probe(tmp_path, image))], tmp_path / "unused")
    (torch_variant, _), = _bound(torch_backend, name, data, jobs)
    (onnx_variant, _), = _bound(onnx_backend, name, data, jobs)
    assert np.abs(torch_variant.run(image) - onnx_variant.run(image)).max() < 1e-4


def write_probe(folder: Path, image: np.ndarray) -> Path:
    path = folder / "probe.png"
    write_image(path, image[0].transpose(1, 2, 0))
    return path
