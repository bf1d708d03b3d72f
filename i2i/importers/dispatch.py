"""Import other projects' pretrained generators as self-describing i2i checkpoints: the dispatcher.

A file is read as tensors only (`torch.load(weights_only=True)` for .pth/.pt/.ckpt/.bin, safetensors as
it is: no pickled code runs), its source is found from its keys (or forced with `source=`), the
source's importer builds i2i networks with the weights, and one i2i checkpoint is written with the
provenance: source, file name, the file's sha256 and the licence where known. The result is an
ordinary i2i checkpoint: `translate`, `export` and `eval` use it like one that i2i trained.

Sources, in the order they are looked for:
  munit     NVlabs/MUNIT `gen_*.pt` ({'a': AdaINGen, 'b': AdaINGen})
  funit     NVlabs/FUNIT `gen_*.pt` ({'gen', 'gen_test'}: FewShotGen)
  sr        ESRGAN / Real-ESRGAN RRDBNet (BasicSR, new and old ESRGAN key layouts), Real-ESRGAN's
            SRVGGNetCompact, BasicSR's MSRResNet — mapped into i2i's own networks (`sr.py`)
  junyanz   junyanz/pytorch-CycleGAN-and-pix2pix `latest_net_G*.pth` (U-Net → pix2pix, ResNet → cyclegan)
  spandrel  every other architecture the spandrel library detects (SwinIR, HAT, DAT, …), built by spandrel
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from i2i.checkpoint import make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.importers.junyanz import generator_from_reference
from i2i.importers.nvlabs import select_funit_state
from i2i.importers.nvlabs_run import import_funit, import_munit
from i2i.importers.reading import flatten, read_weights_file
from i2i.inference.codes import CodeKind
from i2i.inference.deployed import BATCHNORM_MODES
from i2i.models import MUNITGenerator, ResNetGenerator, describe
from i2i.preprocess import Preprocess

JUNYANZ_REPOSITORY = "junyanz/pytorch-CycleGAN-and-pix2pix"
MUNIT_REPOSITORY = "NVlabs/MUNIT"
FUNIT_REPOSITORY = "NVlabs/FUNIT"
FUNIT_DOMAINS = ["content", "class"]    # what i2i's own FUNIT checkpoints name them
FUNIT_DIRECTION = "content->class"
SR_DOMAINS = ["LR", "HR"]               # what i2i's own SRGAN checkpoints name them
# The licences of the code that defines each format (weights files may carry their own terms).
LICENCES = {"junyanz": "BSD (junyanz/pytorch-CycleGAN-and-pix2pix)",
            "esrgan-new": "Apache-2.0 (xinntao/ESRGAN)", "esrgan-old": "Apache-2.0 (xinntao/ESRGAN)",
            "esrgan-basicsr": "MIT (xinntao/Real-ESRGAN)", "srvgg": "MIT (xinntao/Real-ESRGAN)",
            "munit": "CC BY-NC-SA 4.0 (NVlabs/MUNIT)", "funit": "CC BY-NC-SA 4.0 (NVlabs/FUNIT)"}


@dataclass
class ImportOptions:
    file: Path
    domains: list[str]
    batchnorm: str = "per_image"        # junyanz: BatchNorm with per-image statistics or running averages
    config: Path | None = None          # munit/funit: the trainer's config.yaml


@dataclass
class Imported:
    """What a source's importer builds; the dispatcher writes it as one checkpoint."""

    method: str
    domains: list[str]
    generators: dict[str, nn.Module]
    preprocess: Preprocess
    summary: dict[str, Any]             # what was found: architecture, scale, sizes (printed by the CLI)
    conditioning: dict[str, Any] = field(default_factory=dict)
    inference: dict[str, Any] = field(default_factory=lambda: {"batchnorm": "per_image"})
    trained: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # assumptions made, each one line
    networks: list[nn.Module] = field(default_factory=list)   # to count parameters once (MUNIT shares parts)


@dataclass
class Source:
    description: str
    detect: Callable[[dict[str, Any]], bool]
    build: Callable[[dict[str, Any], ImportOptions], Imported]


@dataclass
class ImportReport:
    path: Path                  # the checkpoint written
    source: str                 # which importer read it
    method: str                 # "cyclegan", "pix2pix", "munit", "funit" or "srgan"
    direction: str              # the first direction written, e.g. "A->B"
    architecture: str           # registry name of the generator
    parameters: int             # in all the generators imported (MUNIT: both domains')
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def import_weights(file: str | Path, out: str | Path, source: str | None = None,
                   domains: Sequence[str] = ("A", "B"), batchnorm: str = "per_image",
                   config: str | Path | None = None) -> ImportReport:
    """Read `file`, find its source from the keys (or take `source`), and write `out` (.safetensors).

    `domains` names the source and target domains (junyanz, munit); `batchnorm` is how a junyanz
    generator's BatchNorm runs at inference ("per_image": the reference test script's default, BatchNorm
    in train mode; "running": its `--eval`); `config` is a MUNIT/FUNIT trainer's config.yaml.
    Raises I2IError for a file no importer recognises (naming what was looked for) or that its
    source cannot read, and for bad options."""
    file, out = Path(file), Path(out)
    if source is not None and source not in SOURCES:
        raise I2IError(f"unknown weights source {source!r}; choose one of: {', '.join(SOURCES)}")
    domains = list(domains)
    if len(domains) != 2 or domains[0] == domains[1] or any(not d or "->" in d for d in domains):
        raise I2IError(f"--domains needs two different names without '->', got {domains}")
    if out.suffix.lower() != ".safetensors":
        raise I2IError(f"--out must name a .safetensors file, got {out}")
    if batchnorm not in BATCHNORM_MODES:
        raise I2IError(f"--batchnorm must be one of {', '.join(BATCHNORM_MODES)}, got {batchnorm!r}")
    raw = read_weights_file(file)
    source = source or _detect(file, raw)
    options = ImportOptions(file, domains, batchnorm, Path(config) if config is not None else None)
    try:
        imported = SOURCES[source].build(raw, options)
    except I2IError as error:
        raise (error if str(file) in str(error) else I2IError(f"{file}: {error}")) from None
    except (ValueError, KeyError, RuntimeError, AttributeError, IndexError) as error:
        # KeyError's str() quotes its message; args[0] is the plain text.
        reason = str(error.args[0] if error.args else type(error).__name__).splitlines()[0]
        raise I2IError(f"{file}: not {SOURCES[source].description.split(':')[0]} ({reason})") from None
    return _write(out, source, imported, file)


def _detect(file: Path, raw: dict[str, Any]) -> str:
    for name, source in SOURCES.items():
        if source.detect(raw):
            return name
    keys = ", ".join(list(flatten(raw))[:4]) or "no tensors"
    looked = "; ".join(f"{name}: {source.description}" for name, source in SOURCES.items())
    raise I2IError(f"{file}: no importer recognises its keys ({keys}, …); looked for {looked}")


def _write(out: Path, source: str, imported: Imported, file: Path) -> ImportReport:
    trained = {"imported_from": file.name, "importer": source, "sha256": _sha256(file), **imported.trained}
    header = make_header(imported.method, imported.domains, imported.generators, imported.preprocess,
                         inference=imported.inference, recipe={}, trained=trained,
                         conditioning=imported.conditioning)
    save_checkpoint(out, imported.generators, header)
    direction = next(iter(imported.generators))
    networks = imported.networks or list(imported.generators.values())
    parameters = {id(p): p.numel() for module in networks for p in module.parameters()}
    return ImportReport(out, source, imported.method, direction,
                        describe(imported.generators[direction])["architecture"], sum(parameters.values()),
                        imported.summary, imported.notes)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- junyanz: pix2pix / CycleGAN -------------------------------------------------------------------
def _is_junyanz(raw: dict[str, Any]) -> bool:
    state = flatten(raw)
    return "model.model.0.weight" in state or ("model.1.weight" in state and any(".conv_block." in k for k in state))


def _import_junyanz(raw: dict[str, Any], options: ImportOptions) -> Imported:
    generator = generator_from_reference(flatten(raw))
    config = generator.config
    _check_channels(options.file, config.in_channels, config.out_channels)
    method = "cyclegan" if isinstance(generator, ResNetGenerator) else "pix2pix"
    direction = f"{options.domains[0]}->{options.domains[1]}"
    # The reference tests with BatchNorm in training mode on one image at a time (per-image statistics,
    # the same mode i2i's own training writes) unless its test script is given --eval (running averages).
    return Imported(method, options.domains, {direction: generator}, _preprocess(256, config),
                    {"architecture": describe(generator)["architecture"], "norm": config.norm},
                    inference={"batchnorm": options.batchnorm},
                    trained={"source": JUNYANZ_REPOSITORY, "licence": LICENCES["junyanz"]})


# -- NVlabs: MUNIT / FUNIT -------------------------------------------------------------------------
def _is_munit(raw: dict[str, Any]) -> bool:
    keys = flatten(raw)
    return any(k.startswith(("a.enc_style", "gen_a.enc_style")) for k in keys) and \
        any(k.startswith(("b.enc_style", "gen_b.enc_style")) for k in keys)


def _is_funit(raw: dict[str, Any]) -> bool:
    return any("enc_class_model." in k for k in flatten(raw))


def _import_munit(raw: dict[str, Any], options: ImportOptions) -> Imported:
    # Built as the run's config.yaml says (activ, pad_type); the domains checked to be joinable.
    gen_a, gen_b, notes = import_munit(flatten(raw), options.file, options.config)
    for generator in (gen_a, gen_b):
        _check_channels(options.file, generator.config.in_channels, generator.config.out_channels)
    config = gen_a.config
    a, b = options.domains
    generators: dict[str, nn.Module] = {f"{a}->{b}": MUNITGenerator.cross(gen_a, gen_b),
                                        f"{b}->{a}": MUNITGenerator.cross(gen_b, gen_a)}
    conditioning = {"kind": CodeKind.STYLE, "code_dim": config.style_dim, "prior": "normal"}
    # A grey domain (input_dim 1) beside an RGB one: the images are RGB, the deployed model takes the luma.
    channels = max(gen_a.config.in_channels, gen_b.config.in_channels)
    return Imported("munit", options.domains, generators, _preprocess(256, config, channels),
                    {"architecture": "munit", "style_dim": config.style_dim, "dim": config.dim,
                     "activation": config.activation, "pad_type": config.pad_type},
                    conditioning=conditioning, networks=[gen_a, gen_b], notes=notes,
                    trained={"source": MUNIT_REPOSITORY, "licence": LICENCES["munit"]})


def _import_funit(raw: dict[str, Any], options: ImportOptions) -> Imported:
    if options.domains not in (["A", "B"], FUNIT_DOMAINS):
        raise I2IError(f"--domains does not apply to funit: its checkpoint translates content images into "
                       f"the class of the class images (domains content and class), got {options.domains}")
    state = flatten(raw)
    weights = select_funit_state(state)[0]
    generator, notes = import_funit(state, options.file, options.config)
    config = generator.config
    _check_channels(options.file, config.in_channels, config.out_channels)
    conditioning = {"kind": CodeKind.CLASS, "code_dim": config.class_dim, "k_shot": "mean of the K codes",
                    "training_classes": []}
    trained = {"source": FUNIT_REPOSITORY, "licence": LICENCES["funit"]}
    if weights is not None:
        trained["weights"] = weights
    return Imported("funit", FUNIT_DOMAINS, {FUNIT_DIRECTION: generator}, _preprocess(128, config),
                    {"architecture": "funit", "class_dim": config.class_dim, "dim": config.dim},
                    conditioning=conditioning, trained=trained, notes=notes)


def _preprocess(size: int, config: Any, channels: int | None = None) -> Preprocess:
    channels = channels or config.in_channels
    return Preprocess(size=size, channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels,
                      multiple_of=config.multiple_of, min_size=config.min_size)


def _check_channels(file: Path, in_channels: int, out_channels: int) -> None:
    if in_channels != out_channels:
        # Preprocess has one mean/std for input and output: a channel-changing generator does not fit it.
        raise I2IError(f"{file}: the generator maps {in_channels} to {out_channels} channels; i2i checkpoints "
                       f"translate between images with the same number of channels")


# -- super-resolution: i2i's own networks (sr.py) and spandrel's -----------------------------------
def _is_sr(raw: dict[str, Any]) -> bool:
    from i2i.importers.sr import detect_sr, unwrap_state

    return detect_sr(unwrap_state(raw)) is not None


def _is_spandrel(raw: dict[str, Any]) -> bool:
    from i2i.importers.sr import unwrap_state
    from i2i.importers.spandrel_import import detect_spandrel

    return detect_spandrel(unwrap_state(raw)) is not None


def _import_sr(raw: dict[str, Any], options: ImportOptions) -> Imported:
    from i2i.importers.sr import SR_FAMILIES, detect_sr, sr_network, unwrap_state

    state = unwrap_state(raw)
    family = detect_sr(state)
    if family is None:
        raise ValueError(f"the keys fit none of {', '.join(SR_FAMILIES)}")
    network, info = sr_network(state, family)
    return _sr_imported(network, info, {"source": SR_FAMILIES[family], "licence": LICENCES.get(family)})


def _import_spandrel(raw: dict[str, Any], options: ImportOptions) -> Imported:
    from i2i.importers.spandrel_import import SPANDREL_VERSION, spandrel_network
    from i2i.importers.sr import unwrap_state

    network, info = spandrel_network(unwrap_state(raw))
    return _sr_imported(network, info, {"source": f"{info['family']}, built by spandrel {SPANDREL_VERSION}",
                                        "licence": info.get("license")})


def _sr_imported(network: nn.Module, info: dict[str, Any], trained: dict[str, Any]) -> Imported:
    """An SR network as i2i's SRGAN checkpoints hold theirs: RGB in [0, 1] without mean/std (these
    networks were trained so), the linear output clamped to [0, 1] by the deployed wrapper."""
    config = network.config
    channels = getattr(config, "in_channels", 3)
    preprocess = Preprocess(size=256, channels=channels, mean=(0.0,) * channels, std=(1.0,) * channels,
                            multiple_of=config.multiple_of, min_size=config.min_size, scale=info["scale"],
                            extra={"imported": info["family"]})
    # The sizes i2i's own networks have are few; spandrel's constructors take ~20 arguments, which the
    # checkpoint keeps and the summary line leaves out.
    sizes = info.get("sizes", {}) if len(info.get("sizes", {})) <= 8 else {}
    summary = {"family": info["family"], "architecture": describe(network)["architecture"], "scale": info["scale"],
               **sizes}
    notes = [f"{key}: {value}" for key, value in info.get("supports", {}).items() if value not in (True, "exact")]
    # Upstream runs any BatchNorm with its running averages (eval mode), so the checkpoint says so.
    return Imported("srgan", SR_DOMAINS, {"LR->HR": network}, preprocess, summary,
                    conditioning={"scale": info["scale"]}, inference={"batchnorm": "running"},
                    trained={k: v for k, v in trained.items() if v}, notes=[f"note: {note}" for note in notes])


SOURCES: dict[str, Source] = {
    "munit": Source(f"an {MUNIT_REPOSITORY} generator file: gen_*.pt with a.enc_style… and b.enc_style…",
                    _is_munit, _import_munit),
    "funit": Source(f"an {FUNIT_REPOSITORY} generator file: gen_*.pt with enc_class_model…", _is_funit, _import_funit),
    "sr": Source("an ESRGAN/Real-ESRGAN RRDBNet, SRVGGNetCompact or MSRResNet state dict: conv_first…, "
                 "RRDB_trunk…, model.1.sub…, body.N…", _is_sr, _import_sr),
    "junyanz": Source(f"a {JUNYANZ_REPOSITORY} generator: latest_net_G.pth with model.model.0… (U-Net) or "
                      f"model.N.conv_block… (ResNet)", _is_junyanz, _import_junyanz),
    "spandrel": Source("an architecture spandrel detects: SwinIR, HAT, DAT, Swin2SR, OmniSR, SPAN, …",
                       _is_spandrel, _import_spandrel),
}

