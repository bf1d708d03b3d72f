"""Importing NVlabs MUNIT/FUNIT generators as their trainers configured them: the run's config.yaml.

The trainers copy their --config to outputs/NAME/config.yaml and save outputs/NAME/checkpoints/gen_*.pt.
What the tensors cannot show — MUNIT's `gen.activ` and `gen.pad_type` — is read from there (or from
--config FILE), every size it gives is checked against the tensors, and a grey domain (input_dim 1)
translates from and to RGB files. The official module structure is the one written out in
test_nvlabs_import.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.images import luma
from i2i.importers.dispatch import import_weights
from i2i.importers.nvlabs_run import find_run_config
from tests.importers.test_nvlabs_import import TOLERANCE, images, official_funit, official_munit

runner = CliRunner()
ONNX_TOLERANCE = 1e-4


def munit_config(activ="relu", pad_type="reflect", input_dim_a=3, input_dim_b=3, **gen):
    """A config.yaml as MUNIT's configs/*.yaml lay it out, with the test generators' sizes."""
    sizes = {"dim": 8, "mlp_dim": 16, "style_dim": 5, "activ": activ, "n_downsample": 2, "n_res": 2,
             "pad_type": pad_type, **gen}
    return {"max_iter": 1000000, "gen": sizes,
            "dis": {"dim": 8, "norm": "none", "activ": "lrelu", "n_layer": 4, "gan_type": "lsgan",
                    "num_scales": 3, "pad_type": pad_type},
            "input_dim_a": input_dim_a, "input_dim_b": input_dim_b, "new_size": 256}


def write_run(root, official_a, official_b, config, name="edges2shoes"):
    """outputs/NAME/config.yaml and outputs/NAME/checkpoints/gen_00000100.pt, as MUNIT's train.py writes."""
    run = root / "outputs" / name
    (run / "checkpoints").mkdir(parents=True)
    if config is not None:
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    path = run / "checkpoints" / "gen_00000100.pt"
    torch.save({"a": official_a.state_dict(), "b": official_b.state_dict()}, path)
    return path


def official_translation(source, target, batch, reference, grey_source=False, grey_target=False):
    """Upstream's translation of [0, 1] RGB images in the style of `reference`, each grey domain fed the
    luma (BT.601) of its RGB image; range-mapped to [0, 1] and, from a grey domain, replicated to RGB."""
    def prepared(x, grey):
        if grey:
            x = torch.from_numpy(luma(x.permute(0, 2, 3, 1).numpy()))[:, None]
        return (x - 0.5) / 0.5

    style = target.enc_style(prepared(reference, grey_target))
    y = target.decode(source.enc_content(prepared(batch, grey_source)), style.expand(len(batch), -1, -1, -1))
    return (y * 0.5 + 0.5).clamp(0, 1).expand(-1, 3, -1, -1), style.flatten(1)


def onnx_translate(path, batch, code):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    return session.run(None, {names[0]: batch.numpy(), names[1]: code})[0]


def onnx_encode(path, batch):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]


# -- activ and pad_type from config.yaml ---------------------------------------------------------------
@pytest.fixture(scope="module")
def lrelu_zero_run(tmp_path_factory):
    """A run trained with `activ: lrelu` and `pad_type: zero`, and its i2i import (config.yaml found)."""
    root = tmp_path_factory.mktemp("lrelu_zero")
    official_a = official_munit(0, activ="lrelu", pad_type="zero")
    official_b = official_munit(1, activ="lrelu", pad_type="zero")
    path = write_run(root, official_a, official_b, munit_config("lrelu", "zero"))
    out = root / "munit.safetensors"
    report = import_weights(path, out, domains=("edges", "shoes"))
    return out, report, official_a, official_b


@torch.no_grad()
def test_config_yaml_beside_the_run_sets_activation_and_padding(lrelu_zero_run):
    from i2i.inference.torch_backend import torch_backend

    out, report, official_a, official_b = lrelu_zero_run
    assert report.source == "munit"
    config_yaml = out.parent / "outputs" / "edges2shoes" / "config.yaml"
    assert report.notes == [f"note: activ lrelu and pad_type zero from {config_yaml}"]
    assert (report.summary["activation"], report.summary["pad_type"]) == ("lrelu", "zero")
    header = load_checkpoint(out).header
    for direction in ("edges->shoes", "shoes->edges"):
        config = header["generators"][direction]["config"]
        assert (config["activation"], config["pad_type"]) == ("lrelu", "zero")
    batch, reference = images(2, 20), images(1, 21)
    for to, source, target in (("shoes", official_a, official_b), ("edges", official_b, official_a)):
        expected, style = official_translation(source, target, batch, reference)
        backend = torch_backend(out, to=to, device="cpu")
        code = backend.encode(reference.numpy())
        assert np.abs(code - style.numpy()).max() <= TOLERANCE
        assert np.abs(backend.with_code(code).run(batch.numpy()) - expected.numpy()).max() <= TOLERANCE


@torch.no_grad()
def test_the_lrelu_zero_import_exports_to_onnx_like_the_official_forward(lrelu_zero_run, tmp_path):
    from i2i.export.onnx import export_onnx

    out, _, official_a, official_b = lrelu_zero_run
    report = export_onnx(out, tmp_path / "edges2shoes.onnx", to="shoes")
    batch, reference = images(3, 22), images(1, 23)
    expected, style = official_translation(official_a, official_b, batch, reference)
    code = onnx_encode(report.code_encoder, reference)
    assert np.abs(code - style.numpy()).max() <= ONNX_TOLERANCE
    translated = onnx_translate(report.path, batch, np.repeat(code, 3, axis=0))
    assert np.abs(translated - expected.numpy()).max() <= ONNX_TOLERANCE


@torch.no_grad()
def test_prelu_and_replicate_padding_import_exactly(tmp_path):
    from i2i.inference.torch_backend import torch_backend

    official_a = official_munit(2, activ="prelu", pad_type="replicate")
    official_b = official_munit(3, activ="prelu", pad_type="replicate")
    path = write_run(tmp_path, official_a, official_b, munit_config("prelu", "replicate"))
    out = tmp_path / "munit.safetensors"
    import_weights(path, out)
    batch, reference = images(2, 24), images(1, 25)
    expected, style = official_translation(official_a, official_b, batch, reference)
    backend = torch_backend(out, to="B", device="cpu")
    assert np.abs(backend.with_code(style.numpy()).run(batch.numpy()) - expected.numpy()).max() <= TOLERANCE


def test_given_config_wins_and_the_weights_folder_is_looked_in(tmp_path):
    official_a = official_munit(0, activ="lrelu", pad_type="zero")
    official_b = official_munit(1, activ="lrelu", pad_type="zero")
    path = write_run(tmp_path, official_a, official_b, munit_config("relu", "reflect"))
    given = tmp_path / "the_run.yaml"
    given.write_text(yaml.safe_dump(munit_config("lrelu", "zero")))
    assert find_run_config(path) == path.parent.parent / "config.yaml"
    assert find_run_config(path, given) == given
    report = import_weights(path, tmp_path / "given.safetensors", config=given)
    assert report.notes == [f"note: activ lrelu and pad_type zero from {given}"]
    loose = tmp_path / "downloads"
    loose.mkdir()
    torch.save({"a": official_a.state_dict(), "b": official_b.state_dict()}, loose / "gen.pt")
    assert find_run_config(loose / "gen.pt") is None          # a parent is read only above checkpoints/
    (loose / "config.yaml").write_text(yaml.safe_dump(munit_config("lrelu", "zero")))
    assert find_run_config(loose / "gen.pt") == loose / "config.yaml"
    with pytest.raises(I2IError, match="--config .*absent.yaml does not exist"):
        import_weights(path, tmp_path / "x.safetensors", config=tmp_path / "absent.yaml")


def test_without_config_the_cli_says_what_it_assumed(tmp_path):
    path = write_run(tmp_path, official_munit(0), official_munit(1), None)
    out = tmp_path / "munit.safetensors"
    result = runner.invoke(app, ["weights", "import", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert ("note: no config.yaml beside gen_00000100.pt: assumed activ relu and pad_type reflect (the "
            "released configs'); give --config FILE if the run used others") in result.output.splitlines()
    header = load_checkpoint(out).header["generators"]["A->B"]["config"]
    assert (header["activation"], header["pad_type"]) == ("relu", "reflect")


def test_without_config_prelu_slopes_are_seen_in_the_tensors(tmp_path):
    path = write_run(tmp_path, official_munit(0, activ="prelu"), official_munit(1, activ="prelu"), None)
    report = import_weights(path, tmp_path / "munit.safetensors")
    assert report.notes[0].startswith("note: no config.yaml beside gen_00000100.pt: activ prelu (its slopes "
                                      "are in the tensors) and assumed pad_type reflect")


@pytest.mark.parametrize("config, message", [
    (munit_config(dim=64), "gen.dim is 64, but the tensors of gen_00000100.pt have 8"),
    (munit_config(n_res=4), "gen.n_res is 4, but the tensors of gen_00000100.pt have 2"),
    (munit_config(style_dim=8), "gen.style_dim is 8, but the tensors of gen_00000100.pt have 5"),
    (munit_config(input_dim_a=1), "input_dim_a is 1, but the tensors of gen_00000100.pt have 3"),
    (munit_config("selu"), "gen.activ selu: i2i's layer factory has no SELU"),
    (munit_config("prelu"), "gen.activ is 'prelu', but the tensors of gen_00000100.pt have no PReLU slopes"),
    (munit_config("swish"), "gen.activ 'swish' is not one of MUNIT's relu, lrelu, prelu, selu, tanh, none"),
    (munit_config(pad_type="circular"),
     "gen.pad_type 'circular' is not one of MUNIT's reflect, replicate, zero"),
    ({"gen": {"dim": 8, "activ": "relu"}}, "gen.pad_type is missing"),
    ({"model": {}}, "not an NVlabs MUNIT/FUNIT trainer config (it has no gen: section)"),
])
def test_a_config_that_disagrees_with_the_tensors_is_a_one_line_error(tmp_path, config, message):
    path = write_run(tmp_path, official_munit(0), official_munit(1), config)
    out = tmp_path / "x.safetensors"
    result = runner.invoke(app, ["weights", "import", str(path), "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"{path.parent.parent / 'config.yaml'}: " in lines[0] and message in lines[0], lines[0]
    assert not out.exists()


def test_prelu_slopes_with_another_activation_in_the_config_are_an_error(tmp_path):
    path = write_run(tmp_path, official_munit(0, activ="prelu"), official_munit(1, activ="prelu"),
                     munit_config("lrelu"))
    with pytest.raises(I2IError, match=r"gen.activ is 'lrelu', but the tensors of gen_00000100.pt have PReLU "
                                       r"slopes \(a\.enc_style\.model\.0\.activation\.weight\)"):
        import_weights(path, tmp_path / "x.safetensors")


# -- a grey domain -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    """MUNIT trained with input_dim_a: 1 (grey edges) and input_dim_b: 3, lrelu and zero padding."""
    root = tmp_path_factory.mktemp("grey")
    official_a = official_munit(6, input_dim=1, activ="lrelu", pad_type="zero")
    official_b = official_munit(7, activ="lrelu", pad_type="zero")
    path = write_run(root, official_a, official_b, munit_config("lrelu", "zero", input_dim_a=1))
    out = root / "grey.safetensors"
    result = runner.invoke(app, ["weights", "import", str(path), "--out", str(out),
                                 "--domains", "edges", "shoes"])
    assert result.exit_code == 0, result.output
    return root, out, official_a, official_b


def write_png(path, rgb):
    Image.fromarray(np.round(rgb * 255).astype(np.uint8), "RGB").save(path)
    return np.asarray(Image.open(path), dtype=np.float32) / 255        # what translate reads


def test_a_grey_domain_imports_with_rgb_preprocessing(grey_run):
    _, out, _, _ = grey_run
    checkpoint = load_checkpoint(out)
    preprocess = checkpoint.preprocess
    assert (preprocess.channels, preprocess.mean, preprocess.std) == (3, (0.5,) * 3, (0.5,) * 3)
    configs = {d: checkpoint.header["generators"][d]["config"] for d in checkpoint.directions}
    assert {d: (c["in_channels"], c["out_channels"]) for d, c in configs.items()} == {
        "edges->shoes": (1, 3), "shoes->edges": (3, 1)}


@torch.no_grad()
@pytest.mark.parametrize("to", ["shoes", "edges"])
def test_a_grey_domain_translates_both_ways_through_the_cli(grey_run, tmp_path, to):
    _, out, official_a, official_b = grey_run
    rng = np.random.default_rng(3)
    (tmp_path / "in").mkdir()
    inputs = [write_png(tmp_path / "in" / f"{i}.png", rng.random((32, 32, 3))) for i in range(2)]
    reference = write_png(tmp_path / "style.png", rng.random((256, 256, 3)))
    result = runner.invoke(app, ["translate", str(out), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                 "--to", to, "--style", str(tmp_path / "style.png"), "--backend", "torch",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    batch = torch.from_numpy(np.stack(inputs)).permute(0, 3, 1, 2)
    reference = torch.from_numpy(reference).permute(2, 0, 1)[None]
    source, target = (official_a, official_b) if to == "shoes" else (official_b, official_a)
    expected, _ = official_translation(source, target, batch, reference, grey_source=to == "shoes",
                                       grey_target=to == "edges")
    assert expected.std() > 0.05
    for i in range(2):
        written = np.asarray(Image.open(tmp_path / "out" / f"{i}.png"), dtype=np.float32)
        want = np.round(expected[i].permute(1, 2, 0).numpy() * 255)
        assert written.shape == (32, 32, 3) and np.abs(written - want).max() <= 1   # 8-bit rounding
        if to == "edges":
            assert (written == written[..., :1]).all()                              # grey, replicated


@torch.no_grad()
def test_a_grey_domain_exports_to_onnx_like_the_official_forward(grey_run, tmp_path):
    from i2i.export.onnx import export_onnx

    _, out, official_a, official_b = grey_run
    batch, reference = images(2, 26), images(1, 27)
    for to, source, target in (("shoes", official_a, official_b), ("edges", official_b, official_a)):
        report = export_onnx(out, tmp_path / f"to_{to}.onnx", to=to)
        expected, style = official_translation(source, target, batch, reference, grey_source=to == "shoes",
                                               grey_target=to == "edges")
        code = onnx_encode(report.code_encoder, reference)                 # RGB references, luma for edges
        assert np.abs(code - style.numpy()).max() <= ONNX_TOLERANCE
        translated = onnx_translate(report.path, batch, np.repeat(code, 2, axis=0))
        assert translated.shape == (2, 3, 32, 32)
        assert np.abs(translated - expected.numpy()).max() <= ONNX_TOLERANCE


def test_domains_of_other_channel_counts_are_refused(tmp_path):
    path = write_run(tmp_path, official_munit(0, input_dim=1), official_munit(1, input_dim=4), None)
    with pytest.raises(I2IError, match="domain a has 1-channel images and domain b 4-channel ones"):
        import_weights(path, tmp_path / "x.safetensors")


# -- the 2018 revision's InstanceNorm statistics ------------------------------------------------------
def test_instance_norm_running_statistics_are_dropped_with_a_note(tmp_path):
    official_a, official_b = official_munit(0), official_munit(1)
    path = write_run(tmp_path, official_a, official_b, munit_config())
    state = torch.load(path, weights_only=True)
    for domain in ("a", "b"):
        for key in [k for k in state[domain] if k.startswith("enc_content.") and k.endswith(".conv.bias")]:
            norm = key.removesuffix(".conv.bias") + ".norm"
            state[domain][f"{norm}.running_mean"] = torch.zeros_like(state[domain][key])
            state[domain][f"{norm}.running_var"] = torch.ones_like(state[domain][key])
    torch.save(state, path)
    result = runner.invoke(app, ["weights", "import", str(path), "--out", str(tmp_path / "x.safetensors")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "running statistics" in line]
    assert notes == [("note: dropped 28 InstanceNorm running statistics "
                      "(a.enc_content.model.0.norm.running_mean, …) of the 2018 track_running_stats revision: "
                      "outputs follow each image's instance statistics, as upstream's test script computes them")]


# -- FUNIT ---------------------------------------------------------------------------------------------
def funit_config(**gen):
    sizes = {"nf": 8, "n_res_blks": 1, "nf_mlp": 16, "latent_dim": 6, "n_mlp_blks": 3, "n_downs_content": 2,
             "n_downs_class": 3, **gen}
    return {"gen": sizes, "dis": {"nf": 8, "n_res_blks": 10, "num_classes": 119}}


def write_funit_run(root, config):
    run = root / "outputs" / "funit_animals"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    path = run / "checkpoints" / "gen_00000100.pt"
    torch.save({"gen": official_funit(0).state_dict(), "gen_test": official_funit(1).state_dict()}, path)
    return path


def test_funit_config_sizes_are_checked(tmp_path):
    path = write_funit_run(tmp_path, funit_config())
    assert import_weights(path, tmp_path / "ok.safetensors").notes == []
    (path.parent.parent / "config.yaml").write_text(yaml.safe_dump(funit_config(latent_dim=64)))
    result = runner.invoke(app, ["weights", "import", str(path), "--out", str(tmp_path / "x.safetensors")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "gen.latent_dim is 64, but the tensors of gen_00000100.pt have 6" in lines[0]


def test_funit_ignores_activ_as_fewshotgen_does_and_says_so(tmp_path):
    path = write_funit_run(tmp_path, funit_config(activ="lrelu", pad_type="zero"))
    report = import_weights(path, tmp_path / "funit.safetensors")
    assert report.notes == [(f"note: {path.parent.parent / 'config.yaml'} sets gen.activ lrelu, gen.pad_type "
                             f"zero, which FUNIT's FewShotGen does not read (it builds relu and reflect "
                             f"padding): ignored")]
    config = load_checkpoint(tmp_path / "funit.safetensors").header["generators"]["content->class"]["config"]
    assert (config["activation"], config["pad_type"]) == ("relu", "reflect")
