import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i.cli import app
from i2i.images import read_image, write_image
from i2i.inference.deployed import InferenceModel
from i2i.preprocess import Preprocess
from tests.conftest import write_tiny_checkpoint

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.safetensors"
    return path, write_tiny_checkpoint(path)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    write_image(folder / "a.png", rng.random((32, 32, 3)))
    write_image(folder / "sub" / "b.jpg", rng.random((45, 70, 3)))   # not a multiple of 32
    write_image(folder / "sub" / "c.png", rng.random((32, 32, 3)))
    return folder


def test_folder_tree_is_mirrored_and_sizes_kept(checkpoint, inputs, tmp_path):
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.jpg", "sub/c.png"]
    assert Image.open(out / "sub" / "b.jpg").size == (70, 45)


def test_output_equals_the_network_on_the_padded_image(checkpoint, inputs, tmp_path):
    path, net = checkpoint
    assert runner.invoke(app, ["translate", str(path), str(inputs / "a.png"), "--out", str(tmp_path / "o")]).exit_code == 0
    image = read_image(inputs / "a.png")[0]
    model = InferenceModel(net, Preprocess(size=32, multiple_of=32), "per_image")
    expected = model(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
    written = read_image(tmp_path / "o" / "a.png")[0]
    assert np.abs(written - expected).max() <= 0.5 / 255 + 1e-6   # 8-bit rounding only


def test_never_overwrites_without_flag(checkpoint, inputs, tmp_path):
    out = tmp_path / "out"
    write_image(out / "a.png", np.zeros((4, 4, 3)))
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output and "--overwrite" in result.output
    assert read_image(out / "a.png")[0].shape == (4, 4, 3)          # untouched
    assert not (out / "sub").exists()                               # nothing written at all
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out), "--overwrite"])
    assert result.exit_code == 0 and read_image(out / "a.png")[0].shape == (32, 32, 3)


def test_corrupt_file_is_named_and_the_rest_written(checkpoint, inputs, tmp_path):
    (inputs / "broken.png").write_bytes(b"\x89PNG but not really")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "out"),
                                 "--batch-size", "2"])
    assert result.exit_code == 1
    assert result.output.count("broken.png") == 1
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a.png", "b.jpg", "c.png"]


def test_globs_and_missing_inputs(checkpoint, inputs, tmp_path):
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs / "sub" / "*.png"),
                                 "--out", str(tmp_path / "g")])
    assert result.exit_code == 0 and (tmp_path / "g" / "c.png").is_file()
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_alpha_and_grayscale_inputs(checkpoint, tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = np.arange(32, dtype=np.uint8)[None, :] * 8
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    Image.fromarray(np.full((32, 32), 90, np.uint8), "L").save(tmp_path / "g.png")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(tmp_path / "t.png"), str(tmp_path / "g.png"),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "t.png").mode == "RGBA"      # alpha carried over
    assert np.array(Image.open(tmp_path / "o" / "t.png"))[0, 5, 3] == 40
    assert Image.open(tmp_path / "o" / "g.png").mode == "RGB"


def test_onnx_backend_runs_without_torch(checkpoint, inputs, tmp_path):
    """An exported model translates with numpy + onnxruntime alone: torch is never imported."""
    from i2i.export.onnx import export_onnx

    export_onnx(checkpoint[0], tmp_path / "m.onnx")
    code = ("import sys; from i2i.cli import app; "
            "sys.argv = ['i2i', 'translate', sys.argv[1], sys.argv[2], '--out', sys.argv[3]]\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx"), str(inputs), str(tmp_path / "onnx")],
                   check=True)
    assert runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "torch")]).exit_code == 0
    for name in ("a.png", "sub/c.png"):
        onnx_out = read_image(tmp_path / "onnx" / name)[0]
        torch_out = read_image(tmp_path / "torch" / name)[0]
        assert np.abs(onnx_out - torch_out).max() <= 1 / 255 + 1e-6


def _outputs(folder: Path) -> dict[str, int]:
    """Finished output files (relative name → mtime in ns), temporaries and claims left out (a killed
    run leaves the claims of the outputs it was working on; the next run over them removes them)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and ".i2i-tmp" not in p.name and not p.name.endswith(".i2i-claim")}


def test_skip_existing_translates_only_the_missing_outputs(checkpoint, inputs, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out)]).exit_code == 0
    before = _outputs(out)
    (out / "sub" / "b.jpg").unlink()
    # A temporary a killed run left beside an output: removed, never taken for a finished file.
    stale = out / "sub" / ".c.png.k3x_9q2z.i2i-tmp.png"
    stale.write_bytes(b"half a png")
    time.sleep(0.01)   # a rewritten output would get a later mtime even on a coarse-clock filesystem
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out), "--skip-existing"])
    assert result.exit_code == 0, result.output
    assert "translated 1 of 3 images (2 skipped as existing, 0 failed)" in result.output
    after = _outputs(out)
    assert set(after) == set(before) and not stale.exists()
    assert after["a.png"] == before["a.png"] and after["sub/c.png"] == before["sub/c.png"]   # untouched
    assert read_image(out / "sub" / "b.jpg")[0].shape == (45, 70, 3)                         # rewritten


def test_skip_existing_and_overwrite_exclude_each_other(checkpoint, inputs, tmp_path):
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "o"),
                                 "--overwrite", "--skip-existing"])
    assert result.exit_code == 2 and "exclude each other" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_sigkill_leaves_only_complete_outputs_and_skip_existing_resumes(checkpoint, tmp_path):
    """kill -9 in the middle of a run: every output file there is complete (written to a temporary
    and renamed), and --skip-existing finishes the job, clearing what the kill left behind."""
    source, out = tmp_path / "many", tmp_path / "out"
    write_image(source / "x000.png", np.random.default_rng(0).random((256, 256, 3)))
    for index in range(1, 120):   # copies: as slow to translate as distinct images, instant to make
        shutil.copy(source / "x000.png", source / f"x{index:03d}.png")
    process = subprocess.Popen([sys.executable, "-m", "i2i", "translate", str(checkpoint[0]), str(source),
                                "--out", str(out), "--batch-size", "1", "--device", "cpu"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_outputs(out) if out.exists() else {}) < 5:
            time.sleep(0.01)
        time.sleep(np.random.default_rng().uniform(0, 0.1))   # land anywhere in a decode, forward or write
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    finished = _outputs(out)
    assert 5 <= len(finished) < 120, "the run should have been killed half-way"
    for name in finished:   # every file that exists decodes fully at the right size
        assert read_image(out / name)[0].shape == (256, 256, 3)
    # Resume on a few of the missing ones (deleting the other inputs keeps the test short).
    left = sorted(p.name for p in source.iterdir() if p.name not in finished)
    for name in left[3:]:
        (source / name).unlink()
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(source), "--out", str(out), "--skip-existing"])
    assert result.exit_code == 0, result.output
    assert f"translated 3 of {len(finished) + 3} images ({len(finished)} skipped as existing" in result.output
    assert not list(out.glob("*.i2i-tmp*"))
    assert sorted(_outputs(out)) == sorted([*finished, *left[:3]])


def test_ranks_under_torchrun_take_disjoint_slices(checkpoint, inputs, tmp_path, monkeypatch):
    from i2i.inference.jobs import Job
    from i2i.inference.shard import Shard

    jobs = [Job(Path(f"in/{k}.png"), Path(f"out/{k}.png")) for k in range(11)]
    for world in (1, 2, 3, 4):
        slices = [{job.target for job in Shard(rank, world).take(jobs)} for rank in range(world)]
        assert set().union(*slices) == {job.target for job in jobs}
        assert sum(map(len, slices)) == len(jobs)                       # pairwise disjoint
    write_image(inputs / "d.png", np.zeros((32, 32, 3)))
    out, seen = tmp_path / "out", set()
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in (0, 1):   # the two processes torchrun would start, one after the other
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"rank {rank} of 2: translated 2 of 2 images" in result.output
        mine = set(_outputs(out)) - seen
        assert len(mine) == 2
        seen |= mine
    assert seen == {"a.png", "d.png", "sub/b.jpg", "sub/c.png"}
    monkeypatch.setenv("RANK", "2")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "RANK=2 WORLD_SIZE=2" in result.output


def test_precision_bf16_on_cpu_is_close_to_fp32_and_fp16_is_refused(checkpoint, inputs, tmp_path):
    from i2i.inference.torch_backend import torch_backend

    batch = np.random.default_rng(0).random((2, 3, 64, 96)).astype(np.float32)
    fp32 = torch_backend(checkpoint[0], device="cpu", precision="fp32")
    bf16 = torch_backend(checkpoint[0], device="cpu", precision="bf16")
    assert "bfloat16 autocast" in bf16.description and "autocast" not in fp32.description
    exact, approximate = fp32.run(batch), bf16.run(batch)
    assert approximate.dtype == np.float32 and approximate.min() >= 0 and approximate.max() <= 1
    # bf16 keeps 8 bits of mantissa: measured 0.002 max difference here; allow 0.01 (2.5 grey levels).
    assert 0 < np.abs(approximate - exact).max() < 0.01
    assert torch_backend(checkpoint[0], device="cpu", precision="auto").description == fp32.description
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "o"),
                                 "--device", "cpu", "--precision", "fp16"])
    assert result.exit_code == 2 and "--precision fp16 needs a CUDA GPU" in result.output
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "o"),
                                 "--device", "cpu", "--precision", "bf16"])
    assert result.exit_code == 0 and "bfloat16 autocast" in result.output


def test_onnx_providers_best_first(monkeypatch):
    import onnxruntime

    from i2i.errors import I2IError
    from i2i.inference.onnx_backend import onnx_providers

    installed = ["AzureExecutionProvider", "CPUExecutionProvider", "CUDAExecutionProvider",
                 "TensorrtExecutionProvider", "CoreMLExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: installed)
    assert onnx_providers() == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider",
                                "CPUExecutionProvider"]
    assert onnx_providers("cuda") == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    assert onnx_providers() == ["CPUExecutionProvider"]
    with pytest.raises(I2IError, match="needs onnxruntime-gpu"):
        onnx_providers("cuda")


def test_summary_line_without_a_terminal(checkpoint, inputs, tmp_path):
    """No progress bar when stderr is not a terminal, but one line with the counts and the speed."""
    (inputs / "bad.png").write_bytes(b"")
    result = runner.invoke(app, ["translate", str(checkpoint[0]), str(inputs), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"error: {inputs / 'bad.png'}: empty file (0 bytes)"
    assert len(lines) == 2 and lines[1].startswith("translated 3 of 4 images (0 skipped as existing, 1 failed) in ")
    assert " images/s, with torch (cpu) " in lines[1]


def test_decoded_images_in_flight_are_bounded(tmp_path, monkeypatch):
    """However many files, at most lookahead + 2·batch_size decoded images are alive at once."""
    import threading
    import weakref
    from dataclasses import dataclass

    from i2i.inference import pipeline
    from i2i.inference.backend import Backend
    from i2i.inference.jobs import collect_jobs
    from i2i.inference.pipeline import lookahead, translate_files

    live, peak, lock = [0], [0], threading.Lock()

    def released() -> None:
        with lock:
            live[0] -= 1

    @dataclass
    class Counted(pipeline._Decoded):
        def __post_init__(self) -> None:
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            weakref.finalize(self, released)

    monkeypatch.setattr(pipeline, "_Decoded", Counted)
    write_image(tmp_path / "in" / "x000.png", np.full((8, 8, 3), 0.5))
    for index in range(1, 80):
        shutil.copy(tmp_path / "in" / "x000.png", tmp_path / "in" / f"x{index:03d}.png")
    backend = Backend(lambda batch: batch, Preprocess(size=8), "A->B", "identity")
    for count, batch_size in ((10, 2), (80, 2), (80, 1)):
        peak[0] = 0
        jobs = collect_jobs([str(tmp_path / "in")], tmp_path / f"out{count}-{batch_size}")[:count]
        report = translate_files(backend, jobs, batch_size=batch_size)
        assert len(report.written) == count and live[0] == 0
        assert batch_size <= peak[0] <= lookahead(batch_size) + 2 * batch_size, (count, batch_size, peak[0])
