"""Importing the official NVlabs MUNIT and FUNIT generators.

No official file can be downloaded here, so the official module structure is written out below — only
the attribute names (which make the state-dict keys) and the forward computations, in particular the
official AdaIN (`F.batch_norm` on (1, B·C, H, W) with γ/β assigned as attributes from the MLP output)
and MUNIT's LayerNorm (unbiased std, ε added to the std), with the layer choices the trainers read from
config.yaml (`activ`, `pad_type`, the images' channels). The importer is checked against its keys and
its outputs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from i2i.checkpoint import load_checkpoint
from i2i.cli import app
from i2i.errors import I2IError
from i2i.importers.dispatch import import_weights
from i2i.importers.nvlabs import (
    funit_generator_from_official,
    load_official,
    munit_generator_from_official,
    munit_generators_from_official,
)
from i2i.models import MUNITGenerator

runner = CliRunner()
TOLERANCE = 1e-5


# -- the official module structure (names and computations), written out for the test -------------------
class AdaptiveInstanceNorm2d(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = None
        self.bias = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        b, c = x.size(0), x.size(1)
        reshaped = x.contiguous().view(1, b * c, *x.size()[2:])
        out = F.batch_norm(reshaped, self.running_mean.repeat(b), self.running_var.repeat(b), self.weight,
                           self.bias, True, self.momentum, self.eps)
        return out.view(b, c, *x.size()[2:])


class LayerNorm(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        mean = x.view(x.size(0), -1).mean(1).view(-1, 1, 1, 1)
        std = x.view(x.size(0), -1).std(1).view(-1, 1, 1, 1)
        x = (x - mean) / (std + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def official_activation(name):
    """Conv2dBlock's and LinearBlock's activations (MUNIT networks.py): one shared PReLU slope."""
    return {"relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(0.2), "prelu": nn.PReLU, "selu": nn.SELU,
            "tanh": nn.Tanh, "none": lambda: None}[name]()


class Conv2dBlock(nn.Module):
    def __init__(self, cin, cout, kernel, stride, padding, norm="none", activation="relu",
                 pad_type="reflect"):
        super().__init__()
        self.pad = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d,
                    "zero": nn.ZeroPad2d}[pad_type](padding)
        if norm == "in":
            self.norm = nn.InstanceNorm2d(cout)
        elif norm == "ln":
            self.norm = LayerNorm(cout)
        elif norm == "adain":
            self.norm = AdaptiveInstanceNorm2d(cout)
        else:
            self.norm = None
        self.activation = official_activation(activation)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=True)

    def forward(self, x):
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return self.activation(x) if self.activation is not None else x


class Sequence(nn.Module):
    """Every official container keeps its layers in an nn.Sequential called `model`."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class ResBlock(Sequence):
    def __init__(self, dim, norm, activ="relu", pad_type="reflect"):
        super().__init__(Conv2dBlock(dim, dim, 3, 1, 1, norm, activ, pad_type),
                         Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type))

    def forward(self, x):
        return self.model(x) + x


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, activation):
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.activation = official_activation(activation)

    def forward(self, x):
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class MLP(Sequence):
    def __init__(self, cin, cout, dim, blocks, activ="relu"):
        layers = [LinearBlock(cin, dim, activ)] + [LinearBlock(dim, dim, activ) for _ in range(blocks - 2)]
        super().__init__(*layers, LinearBlock(dim, cout, "none"))

    def forward(self, x):
        return self.model(x.view(x.size(0), -1))


def code_encoder(downs, dim, code_dim, input_dim=3, activ="relu", pad_type="reflect"):
    layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, "none", activ, pad_type)]
    for _ in range(2):
        layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "none", activ, pad_type))
        dim *= 2
    layers += [Conv2dBlock(dim, dim, 4, 2, 1, "none", activ, pad_type) for _ in range(downs - 2)]
    return Sequence(*layers, nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, code_dim, 1, 1, 0))


class OfficialGenerator(nn.Module):
    """MUNIT's AdaINGen (`enc_style`, LayerNorm upsampling) or FUNIT's FewShotGen (`enc_class_model`,
    InstanceNorm upsampling): `enc_content`, `dec`, `mlp` in both. `input_dim` is the domain's channels
    (MUNIT's input_dim_a/b), `activ` and `pad_type` as config.yaml's gen section gives them."""

    def __init__(self, code_encoder_name, dim=8, code_dim=5, mlp_dim=16, mlp_blocks=3, downs=2, n_res=2,
                 code_downs=4, up_norm="ln", input_dim=3, activ="relu", pad_type="reflect"):
        super().__init__()
        self.code_encoder_name = code_encoder_name
        setattr(self, code_encoder_name, code_encoder(code_downs, dim, code_dim, input_dim, activ, pad_type))
        layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, "in", activ, pad_type)]
        for _ in range(downs):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "in", activ, pad_type))
            dim *= 2
        blocks = [ResBlock(dim, "in", activ, pad_type) for _ in range(n_res)]
        self.enc_content = Sequence(*layers, Sequence(*blocks))
        layers = [Sequence(*[ResBlock(dim, "adain", activ, pad_type) for _ in range(n_res)])]
        for _ in range(downs):
            layers += [nn.Upsample(scale_factor=2),
                       Conv2dBlock(dim, dim // 2, 5, 1, 2, up_norm, activ, pad_type)]
            dim //= 2
        self.dec = Sequence(*layers, Conv2dBlock(dim, input_dim, 7, 1, 3, "none", "tanh", pad_type))
        adain = sum(2 * m.num_features for m in self.dec.modules() if isinstance(m, AdaptiveInstanceNorm2d))
        self.mlp = MLP(code_dim, adain, mlp_dim, mlp_blocks, activ)
        for name, parameter in self.named_parameters():  # non-trivial everything (LayerNorm's β starts at 0)
            if name.endswith(("beta", "bias")):
                nn.init.normal_(parameter, 0.0, 0.1)
            elif name.endswith("activation.weight"):     # a PReLU's slope: a different one per layer
                nn.init.uniform_(parameter, 0.05, 0.5)

    def encode_code(self, x):
        return getattr(self, self.code_encoder_name)(x)

    def decode(self, content, code):
        params = self.mlp(code)
        for m in self.dec.modules():
            if isinstance(m, AdaptiveInstanceNorm2d):
                m.bias = params[:, :m.num_features].contiguous().view(-1)
                m.weight = params[:, m.num_features:2 * m.num_features].contiguous().view(-1)
                if params.size(1) > 2 * m.num_features:
                    params = params[:, 2 * m.num_features:]
        return self.dec(content)


def official_munit(seed, **sizes):
    torch.manual_seed(seed)
    return OfficialGenerator("enc_style", **sizes).eval()


def official_funit(seed, **sizes):
    torch.manual_seed(seed)
    values = {"code_dim": 6, "code_downs": 3, "n_res": 1, "up_norm": "in", **sizes}
    return OfficialGenerator("enc_class_model", **values).eval()


def parameters(state):
    return {k: v for k, v in state.items() if k.rpartition(".")[2] not in ("running_mean", "running_var",
                                                                            "num_batches_tracked")}


def count(module):
    return sum(p.numel() for p in module.parameters())


def images(n, seed, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# -- key mapping ---------------------------------------------------------------------------------------
def test_munit_every_official_key_maps_and_sizes_are_inferred():
    official = official_munit(0)
    state = official.state_dict()
    assert any(k.endswith("norm.running_mean") for k in state)          # AdaIN's dummy buffers are there
    generator = munit_generator_from_official(state)
    c = generator.config
    assert (c.dim, c.style_dim, c.mlp_dim, c.mlp_blocks, c.content_downsample, c.content_res_blocks,
            c.style_downsample, c.in_channels, c.out_channels, c.up_norm) == (8, 5, 16, 3, 2, 2, 4, 3, 3,
                                                                                "layer")
    assert len(generator.state_dict()) == len(parameters(state))
    assert count(generator) == count(official)
    ours = generator.state_dict()
    for i2i_key, official_key in [("style_encoder.head.weight", "enc_style.model.6.weight"),
                                  ("style_encoder.down.3.conv.bias", "enc_style.model.4.conv.bias"),
                                  ("content_encoder.blocks.1.conv2.conv.weight",
                                   "enc_content.model.3.model.1.model.1.conv.weight"),
                                  ("decoder.blocks.0.conv1.conv.bias",
                                   "dec.model.0.model.0.model.0.conv.bias"),
                                  ("decoder.up.1.conv.norm.gamma", "dec.model.4.norm.gamma"),
                                  ("decoder.up.0.conv.norm.beta", "dec.model.2.norm.beta"),
                                  ("decoder.head.conv.weight", "dec.model.5.conv.weight"),
                                  ("decoder.mlp.layers.4.weight", "mlp.model.2.fc.weight")]:
        assert torch.equal(ours[i2i_key], state[official_key]), i2i_key


def test_munit_other_sizes_are_inferred():
    official = official_munit(1, dim=4, code_dim=3, mlp_dim=12, mlp_blocks=4, downs=1, n_res=3, code_downs=2)
    generator = munit_generator_from_official(official.state_dict())
    c = generator.config
    assert (c.dim, c.style_dim, c.mlp_dim, c.mlp_blocks, c.content_downsample, c.content_res_blocks,
            c.style_downsample) == (4, 3, 12, 4, 1, 3, 2)
    assert count(generator) == count(official)


def test_munit_strict_loading_names_missing_and_unmapped_keys():
    state = official_munit(0).state_dict()
    extra = dict(state, **{"dec.model.2.norm.extra": torch.zeros(8)})
    with pytest.raises(ValueError, match=r"unmapped keys dec\.model\.2\.norm\.extra"):
        munit_generator_from_official(extra)
    missing = {k: v for k, v in state.items() if k != "dec.model.4.norm.gamma"}
    with pytest.raises(ValueError, match=r"missing dec\.model\.4\.norm\.gamma"):
        munit_generator_from_official(missing)
    reshaped = dict(state, **{"mlp.model.1.fc.bias": torch.zeros(17)})
    with pytest.raises(ValueError, match=r"unexpected shapes mlp\.model\.1\.fc\.bias \(17,\)"):
        munit_generator_from_official(reshaped)
    funit_state = official_funit(0).state_dict()  # InstanceNorm upsampling: no LayerNorm γ/β
    with pytest.raises(ValueError, match="lacks enc_style"):
        munit_generator_from_official(funit_state)


def test_munit_old_instancenorm_running_statistics_are_dropped():
    """Checkpoints of the `track_running_stats=True` revision carry InstanceNorm statistics; the current
    official code (and so the import) normalises per instance and ignores them."""
    official = official_munit(0)
    state = official.state_dict()
    norms = [name for name, m in official.enc_content.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 + 2 * 2
    for name in norms:
        channels = state[f"enc_content.{name.removesuffix('.norm')}.conv.bias"].shape[0]
        state[f"enc_content.{name}.running_mean"] = torch.zeros(channels)
        state[f"enc_content.{name}.running_var"] = torch.ones(channels)
        state[f"enc_content.{name}.num_batches_tracked"] = torch.tensor(0)
    generator = munit_generator_from_official(state).eval()
    assert count(generator) == count(official)
    x = images(2, 0) * 2 - 1
    with torch.no_grad():
        assert (generator.content_encoder(x) - official.enc_content(x)).abs().max() <= TOLERANCE


def test_funit_keys_map_and_gen_test_is_preferred():
    gen, gen_test = official_funit(0), official_funit(1)
    generator = funit_generator_from_official(gen_test.state_dict())
    c = generator.config
    assert (c.dim, c.class_dim, c.mlp_dim, c.mlp_blocks, c.content_downsample, c.content_res_blocks,
            c.class_downsample, c.up_norm) == (8, 6, 16, 3, 2, 1, 3, "instance")
    assert len(generator.state_dict()) == len(parameters(gen_test.state_dict()))
    assert count(generator) == count(gen_test)
    head = gen_test.state_dict()["enc_class_model.model.5.weight"]
    nested = {"gen": gen.state_dict(), "gen_test": gen_test.state_dict()}
    flat = {f"{p}.{k}": v for p, s in nested.items() for k, v in s.items()}
    for state in (nested, flat):
        imported = funit_generator_from_official(state).state_dict()
        assert torch.equal(imported["class_encoder.head.weight"], head)
    only_gen = {f"gen.{k}": v for k, v in gen.state_dict().items()}
    assert torch.equal(funit_generator_from_official(only_gen).state_dict()["class_encoder.head.weight"],
                       gen.state_dict()["enc_class_model.model.5.weight"])
    munit_state = official_munit(0).state_dict()  # LayerNorm γ/β in the decoder: not a FewShotGen
    with pytest.raises(ValueError, match="lacks enc_class_model"):
        funit_generator_from_official(munit_state)
    renamed = {k.replace("enc_style", "enc_class_model"): v for k, v in munit_state.items()}
    with pytest.raises(ValueError, match=r"unmapped keys dec\.model\.2\.norm\.gamma"):
        funit_generator_from_official(renamed)


# -- numerics ------------------------------------------------------------------------------------------
@torch.no_grad()
def test_munit_encode_and_decode_match_the_official_forward():
    official = official_munit(0)
    generator = munit_generator_from_official(official.state_dict()).eval()
    x = images(2, 0) * 2 - 1
    content, style = generator.encode(x)
    official_content, official_style = official.enc_content(x), official.enc_style(x)
    assert official_style.shape == (2, 5, 1, 1) and style.shape == (2, 5)
    assert (content - official_content).abs().max() <= TOLERANCE
    assert (style - official_style.flatten(1)).abs().max() <= TOLERANCE
    codes = torch.randn(2, 5, 1, 1, generator=torch.Generator().manual_seed(1))
    random_content = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(2))
    expected = official.decode(random_content, codes)
    assert expected.std() > 0.1 and expected.abs().max() < 0.999      # a non-degenerate output
    assert (generator.decode(random_content, codes.flatten(1)) - expected).abs().max() <= TOLERANCE


@torch.no_grad()
def test_munit_cross_direction_matches_the_official_translation():
    official_a, official_b = official_munit(0), official_munit(1)
    gen_a = munit_generator_from_official(official_a.state_dict())
    gen_b = munit_generator_from_official(official_b.state_dict())
    x, reference = images(2, 3) * 2 - 1, images(2, 4) * 2 - 1
    expected = official_b.decode(official_a.enc_content(x), official_b.enc_style(reference))
    translated = MUNITGenerator.cross(gen_a, gen_b).eval()(x, gen_b.encode_style(reference))
    assert (translated - expected).abs().max() <= TOLERANCE


def official_k_shot(official, content, class_images):
    """test_k_shot.py: mean of the per-image class codes, one content image at a time."""
    code = torch.stack([official.encode_code(image[None]) for image in class_images]).mean(0)
    return torch.cat([official.decode(official.enc_content(image[None]), code) for image in content])


@torch.no_grad()
def test_funit_k_shot_translation_matches_the_official_forward():
    official = official_funit(0)
    generator = funit_generator_from_official({"gen_test": official.state_dict()}).eval()
    content, class_images = images(2, 5) * 2 - 1, images(3, 6) * 2 - 1
    expected = official_k_shot(official, content, class_images)
    assert expected.std() > 0.1
    translated = generator(content, generator.class_code(class_images))
    assert (translated - expected).abs().max() <= TOLERANCE


# -- import_weights and translate ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def munit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("munit") / "gen_00000100.pt"
    official_a, official_b = official_munit(0), official_munit(1)
    torch.save({"a": official_a.state_dict(), "b": official_b.state_dict()}, path)
    return path, official_a, official_b


def pixels_through(official_source, official_target, batch, code):
    """The official translation of [0, 1] images, range-mapped as i2i's deployed model maps it."""
    x = (batch - 0.5) / 0.5
    codes = code.view(1, -1, 1, 1).expand(len(batch), -1, -1, -1)
    y = official_target.decode(official_source.enc_content(x), codes)
    return (y * 0.5 + 0.5).clamp(0, 1)


@torch.no_grad()
def test_munit_import_writes_a_two_direction_checkpoint_that_translates(munit_file, tmp_path):
    from i2i.inference.torch_backend import torch_backend

    path, official_a, official_b = munit_file
    out = tmp_path / "munit.safetensors"
    report = import_weights(path, out, source="munit", domains=("edges", "shoes"))
    assert (report.method, report.direction, report.architecture) == ("munit", "edges->shoes", "munit")
    assert report.parameters == count(official_a) + count(official_b)
    checkpoint = load_checkpoint(out)
    header = checkpoint.header
    assert checkpoint.directions == ["edges->shoes", "shoes->edges"]
    assert header["method"] == "munit" and header["domains"] == ["edges", "shoes"]
    assert header["conditioning"] == {"kind": "style", "code_dim": 5, "prior": "normal"}
    assert header["trained"] == {"imported_from": path.name, "source": "NVlabs/MUNIT", "importer": "munit",
                                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                 "licence": "CC BY-NC-SA 4.0 (NVlabs/MUNIT)"}
    preprocess = checkpoint.preprocess
    assert (preprocess.size, preprocess.multiple_of, preprocess.min_size) == (256, 4, 8)
    batch = images(2, 7)
    code = np.random.default_rng(0).standard_normal((1, 5)).astype(np.float32)
    for to, source, target in (("shoes", official_a, official_b), ("edges", official_b, official_a)):
        backend = torch_backend(out, to=to, device="cpu")
        assert backend.conditioning["kind"] == "style"
        expected = pixels_through(source, target, batch, torch.from_numpy(code))
        assert np.abs(backend.with_code(code).run(batch.numpy()) - expected.numpy()).max() <= TOLERANCE
        # the reference-image style code is the target domain's style encoder
        style = target.enc_style((batch - 0.5) / 0.5).flatten(1)
        assert np.abs(backend.encode(batch.numpy()) - style.numpy()).max() <= TOLERANCE


@torch.no_grad()
def test_funit_import_writes_a_class_conditioned_checkpoint_that_translates(tmp_path):
    from i2i.inference.torch_backend import torch_backend

    gen, gen_test = official_funit(0), official_funit(1)
    path = tmp_path / "gen_00200000.pt"
    torch.save({"gen": gen.state_dict(), "gen_test": gen_test.state_dict()}, path)
    out = tmp_path / "funit.safetensors"
    report = import_weights(path, out, source="funit")
    assert (report.method, report.direction, report.architecture) == ("funit", "content->class", "funit")
    assert report.parameters == count(gen_test)
    checkpoint = load_checkpoint(out)
    header = checkpoint.header
    assert checkpoint.directions == ["content->class"] and header["domains"] == ["content", "class"]
    assert header["conditioning"] == {"kind": "class", "code_dim": 6, "k_shot": "mean of the K codes",
                                      "training_classes": []}
    assert header["trained"]["weights"] == "gen_test"
    assert (checkpoint.preprocess.size, checkpoint.preprocess.multiple_of) == (128, 4)
    backend = torch_backend(out, device="cpu")
    content, class_images = images(2, 8), images(3, 9)
    code = backend.encode(class_images.numpy()).mean(0, keepdims=True)
    expected = (official_k_shot(gen_test, content * 2 - 1, class_images * 2 - 1) * 0.5 + 0.5).clamp(0, 1)
    assert np.abs(backend.with_code(code).run(content.numpy()) - expected.numpy()).max() <= TOLERANCE
    with pytest.raises(I2IError, match="--domains does not apply to funit"):
        import_weights(path, tmp_path / "x.safetensors", source="funit", domains=("cats", "dogs"))


def test_load_official_flattens_and_strips_module(tmp_path):
    path = tmp_path / "gen.pt"
    torch.save({"a": {"module.enc_style.model.0.conv.weight": torch.ones(2)}, "b": {"x": torch.zeros(1)}},
               path)
    assert sorted(load_official(path)) == ["a.enc_style.model.0.conv.weight", "b.x"]


def test_munit_generators_need_both_domains():
    state = {f"a.{k}": v for k, v in official_munit(0).state_dict().items()}
    with pytest.raises(ValueError, match="under 'a' and 'b'.*found a"):
        munit_generators_from_official(state)


# -- errors --------------------------------------------------------------------------------------------
def test_cli_imports_munit_and_lists_the_sources(munit_file, tmp_path):
    path = munit_file[0]
    out = tmp_path / "cli.safetensors"
    result = runner.invoke(app, ["weights", "import", "munit", str(path), "--out", str(out),
                                 "--domains", "a", "b"])
    assert result.exit_code == 0, result.output
    assert "munit" in result.output and "a->b" in result.output and out.is_file()
    help_text = runner.invoke(app, ["weights", "import", "--help"], env={"COLUMNS": "200"}).output
    assert "NVlabs/MUNIT" in help_text and "NVlabs/FUNIT" in help_text


def munit_state_files(tmp_path, munit_file):
    a, b = munit_file[1].state_dict(), munit_file[2].state_dict()
    files = {}
    files["tensor.pt"] = torch.zeros(3)
    files["missing.pt"] = {"a": {k: v for k, v in a.items() if k != "mlp.model.0.fc.weight"}, "b": b}
    files["funit.pt"] = {"gen": official_funit(0).state_dict()}
    for name, content in files.items():
        torch.save(content, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a checkpoint")


@pytest.mark.parametrize("source, name, message", [
    ("munit", "tensor.pt", "tensor.pt: not a readable PyTorch state dict (expected a state_dict (a dict of "
                           "tensors), got Tensor)"),
    ("munit", "missing.pt", "missing.pt: not an NVlabs/MUNIT generator file (official state dict lacks "
                            "mlp.model.0.fc.weight)"),
    ("munit", "funit.pt", "funit.pt: not an NVlabs/MUNIT generator file (expected the generators of both "
                          "domains under 'a' and 'b'"),
    ("funit", "missing.pt", "missing.pt: not an NVlabs/FUNIT generator file (official state dict lacks "
                            "enc_content.model.0.conv.weight)"),
    ("funit", "notes.txt", "notes.txt: not a PyTorch state dict"),
    ("funit", "absent.pt", "absent.pt does not exist"),
])
def test_import_errors_name_the_file(munit_file, tmp_path, source, name, message):
    munit_state_files(tmp_path, munit_file)
    with pytest.raises(I2IError) as error:
        import_weights(tmp_path / name, tmp_path / "x.safetensors", source=source)
    assert str(error.value).startswith(str(tmp_path / name)) and message in str(error.value), str(error.value)
    assert not (tmp_path / "x.safetensors").exists()
    result = runner.invoke(app, ["weights", "import", source, str(tmp_path / name), "--out",
                                 str(tmp_path / "x.safetensors")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output


def test_unknown_source_lists_the_new_ones(tmp_path):
    with pytest.raises(I2IError, match="choose one of: munit, funit, sr, junyanz, spandrel"):
        import_weights(tmp_path / "x.pt", tmp_path / "x.safetensors", source="timm")


def test_a_different_shaped_domain_is_refused(tmp_path):
    path = tmp_path / "gen.pt"
    torch.save({"a": official_munit(0).state_dict(), "b": official_munit(1, dim=4).state_dict()}, path)
    with pytest.raises(I2IError, match="gen.pt: the generators of domains a and b differ in shape"):
        import_weights(path, tmp_path / "x.safetensors", source="munit")


# -- activation, padding and a grey domain (what config.yaml gives) -----------------------------------
@pytest.mark.parametrize("activ, pad_type", [("lrelu", "zero"), ("prelu", "replicate"), ("tanh", "reflect"),
                                             ("none", "zero")])
@torch.no_grad()
def test_munit_activation_and_padding_follow_the_given_settings(activ, pad_type):
    official = official_munit(2, activ=activ, pad_type=pad_type)
    generator = munit_generator_from_official(official.state_dict(), activ, pad_type).eval()
    assert (generator.config.activation, generator.config.pad_type) == (activ, pad_type)
    slopes = [k for k in official.state_dict() if k.endswith("activation.weight")]
    # style 1 + 4, content 1 + 2 + 2, decoder 2 + 2, MLP 2: every layer but the tanh, the 1×1 and the last fc
    assert len(slopes) == (5 + 5 + 4 + 2 if activ == "prelu" else 0)
    assert len(generator.state_dict()) == len(parameters(official.state_dict()))
    x = images(2, 10) * 2 - 1
    code = official.enc_style(x)
    assert (generator.encode_style(x) - code.flatten(1)).abs().max() <= TOLERANCE
    expected = official.decode(official.enc_content(x), code)
    assert expected.std() > 0.05
    assert (generator(x, code.flatten(1)) - expected).abs().max() <= TOLERANCE
    # relu/reflect weights run the wrong layers: the settings matter (what the import got wrong before)
    if activ != "prelu":
        wrong = munit_generator_from_official(official.state_dict()).eval()
        assert (wrong(x, code.flatten(1)) - expected).abs().max() > 1e-3


def test_munit_prelu_slopes_need_prelu():
    state = official_munit(2, activ="prelu").state_dict()
    with pytest.raises(ValueError, match=r"unmapped keys enc_style\.model\.0\.activation\.weight"):
        munit_generator_from_official(state)                              # built with ReLU: slopes left over
    with pytest.raises(ValueError, match=r"missing .*enc_content\.model\.0\.activation\.weight"):
        munit_generator_from_official(official_munit(2).state_dict(), "prelu")


@torch.no_grad()
def test_munit_cross_joins_a_grey_and_an_rgb_domain():
    official_a, official_b = official_munit(3, input_dim=1), official_munit(4)
    gen_a = munit_generator_from_official(official_a.state_dict())
    gen_b = munit_generator_from_official(official_b.state_dict())
    assert (gen_a.config.in_channels, gen_a.config.out_channels) == (1, 1)
    a2b, b2a = MUNITGenerator.cross(gen_a, gen_b).eval(), MUNITGenerator.cross(gen_b, gen_a).eval()
    assert (a2b.config.in_channels, a2b.config.out_channels) == (1, 3)
    assert (b2a.config.in_channels, b2a.config.out_channels) == (3, 1)
    grey, rgb = images(2, 11)[:, :1] * 2 - 1, images(2, 12) * 2 - 1
    expected = official_b.decode(official_a.enc_content(grey), official_b.enc_style(rgb))
    assert (a2b(grey, a2b.encode_style(rgb)) - expected).abs().max() <= TOLERANCE
    expected = official_a.decode(official_b.enc_content(rgb), official_a.enc_style(grey))
    assert expected.shape == (2, 1, 32, 32)
    assert (b2a(rgb, b2a.encode_style(grey)) - expected).abs().max() <= TOLERANCE
    # the checkpoint rebuilds a direction from its config alone: same modules, same keys and shapes
    rebuilt = MUNITGenerator(a2b.config)
    shapes = {k: v.shape for k, v in a2b.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    with pytest.raises(ValueError, match="differ in more than their images' channels"):
        MUNITGenerator.cross(gen_a, munit_generator_from_official(official_munit(5, dim=4).state_dict()))
