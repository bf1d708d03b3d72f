"""`i2i eval --metrics`: which metrics run, what happens without their network weights (never a
silently different metric), and the protocol written to the JSON. Fake weights in torchvision's
format (random values) stand in for the real files, which cannot be downloaded here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from typer.testing import CliRunner

from i2i.cli import app
from tests.conftest import write_pairs

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    for variable in ("I2I_LPIPS_BACKBONE_WEIGHTS", "I2I_INCEPTION_WEIGHTS"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("paired")
    data = root / "data"
    write_pairs(data, "train", 4, size=32)
    write_pairs(data, "test", 2, size=32, seed=1)
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(data), "--out", str(root / "run"), "--steps", "2",
                                 "--batch-size", "2", "--image-size", "32", "--set", "generator.num_downs=5",
                                 "--set", "generator.ngf=4", "--set", "discriminator.ndf=4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return root / "run", data


@pytest.fixture(scope="module")
def fake_alexnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("alex") / "alexnet-owt-7be5be79.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def test_auto_computes_what_it_can_and_names_what_it_cannot(paired_run, tmp_path: Path) -> None:
    run, data = paired_run
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "not computed: lpips" in result.output and "alexnet-owt-7be5be79.pth" in result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert set(scores["scores"]) == {"l1", "psnr", "ssim"} and "lpips" in scores["not_computed"]


def test_a_named_metric_without_weights_is_an_error(paired_run) -> None:
    run, data = paired_run
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--metrics", "psnr,lpips"])
    assert result.exit_code == 2 and "alexnet-owt-7be5be79.pth" in result.output
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--metrics", "psnr,bogus"])
    assert result.exit_code == 2 and "unknown --metrics bogus" in result.output


def test_lpips_with_a_weights_file_and_its_protocol(paired_run, fake_alexnet: Path, tmp_path: Path) -> None:
    run, data = paired_run
    result = runner.invoke(app, ["eval", str(run), "--data", str(data), "--metrics", "l1,lpips",
                                 "--feature-weights", str(fake_alexnet), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert set(scores["scores"]) == {"l1", "lpips"} and scores["not_computed"] == {}
    assert scores["protocol"]["lpips"]["net"] == "alex"
    assert "alexnet-owt-7be5be79.pth" in str(scores["protocol"]["lpips"]["backbone_weights"])
    assert all(row["lpips"] >= 0 and row["baseline_lpips"] > 0 for row in scores["per_image"])


STRIPES = Path(__file__).resolve().parents[2] / "weights" / "cyclegan-stripes.safetensors"


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Inception weights in the exact format torch-fidelity loads (96 MB, built once)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *args, **kwargs: None)
        torch.manual_seed(0)
        network = FeatureExtractorInceptionV3("random", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "fake-inception.pth"
    torch.save({k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path


@pytest.fixture
def unpaired_data(tmp_path: Path) -> Path:
    """Stripes-like domains whose test images share no names: no ground truth, so distribution metrics."""
    from i2i.data.demo.stripes import make_stripes

    make_stripes(tmp_path / "src", num_train=3, num_test=3, size=32)
    root = tmp_path / "data"
    for domain, prefix in (("plain", "p"), ("striped", "s")):
        for split in ("train", "test"):
            (root / domain / split).mkdir(parents=True)
            for path in sorted((tmp_path / "src" / domain / split).glob("*.png")):
                path.rename(root / domain / split / f"{prefix}{path.name}")
    return root


def test_unpaired_data_gets_distribution_metrics_beside_both_baselines(unpaired_data: Path, fake_inception: Path,
                                                                       tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(STRIPES), "--data", str(unpaired_data), "--to", "striped"])
    assert result.exit_code == 2 and "weights-inception-2015-12-05-6726825d.pth" in result.output
    assert "no ground truth" in result.output
    result = runner.invoke(app, ["eval", str(STRIPES), "--data", str(unpaired_data), "--to", "striped",
                                 "--feature-weights", str(fake_inception), "--json", str(tmp_path / "d.json")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "plain as they are (baseline)" in result.output and "real striped, train split" in result.output
    scores = json.loads((tmp_path / "d.json").read_text())
    assert scores["count"] == 3 and scores["protocol"]["kid_kernel"].startswith("polynomial")
    for block in ("scores", "baseline_inputs_as_they_are", "baseline_real_vs_real"):
        assert {"fid", "kid_mean", "is_mean", "one_nn_accuracy"} <= set(scores[block])
        assert 0.0 <= scores[block]["one_nn_accuracy"] <= 1.0
    # Named metrics only: the table shows just those columns.
    result = runner.invoke(app, ["eval", str(STRIPES), "--data", str(unpaired_data), "--to", "striped",
                                 "--metrics", "kid,1nn", "--feature-weights", str(fake_inception)],
                           env={"COLUMNS": "200"})
    header = next(line for line in result.output.splitlines() if "KID" in line)
    assert result.exit_code == 0 and "1-NN" in header and "FID" not in header


def test_paired_and_distribution_metrics_named_together_share_one_json(fake_inception: Path, tmp_path: Path) -> None:
    from i2i.data.demo.stripes import make_stripes

    make_stripes(tmp_path / "data", num_train=3, num_test=3, size=32)   # test split: ground truth by name
    result = runner.invoke(app, ["eval", str(STRIPES), "--data", str(tmp_path / "data"), "--to", "striped",
                                 "--metrics", "l1,kid", "--feature-weights", str(fake_inception),
                                 "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert set(scores["scores"]) == {"l1"} and "kid_mean" in scores["distribution"]["scores"]
