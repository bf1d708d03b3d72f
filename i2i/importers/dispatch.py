"""Import other projects' pretrained generators as self-describing i2i checkpoints.

The result is an ordinary i2i checkpoint: `translate`, `export` and `eval` use it like one that i2i
trained, with no architecture or preprocessing flags. Foreign files are read with
`torch.load(weights_only=True)` only: no pickled code runs.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from i2i.checkpoint import make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.importers.junyanz import generator_from_reference, load_state_dict
from i2i.importers.nvlabs import (
    funit_generator_from_official,
    load_official,
    munit_generators_from_official,
    select_funit_state,
)
from i2i.inference.codes import CodeKind
from i2i.models import MUNITGenerator, ResNetGenerator, describe
from i2i.preprocess import Preprocess

SOURCES = ("junyanz", "munit", "funit")
JUNYANZ_REPOSITORY = "junyanz/pytorch-CycleGAN-and-pix2pix"
MUNIT_REPOSITORY = "NVlabs/MUNIT"
FUNIT_REPOSITORY = "NVlabs/FUNIT"
FUNIT_DOMAINS = ["content", "class"]    # what i2i's own FUNIT checkpoints name them
FUNIT_DIRECTION = "content->class"


@dataclass
class ImportReport:
    path: Path                  # the checkpoint written
    method: str                 # "cyclegan", "pix2pix", "munit" or "funit"
    direction: str              # the first direction written, e.g. "A->B"
    architecture: str           # registry name of the generator
    parameters: int             # in all the generators imported (MUNIT: both domains')


def import_weights(source: str, file: str | Path, out: str | Path,
                   domains: Sequence[str] = ("A", "B")) -> ImportReport:
    """Read a `source` generator file and write it to `out` as an i2i checkpoint.

    `junyanz`: a `latest_net_G*.pth` state dict of the reference pix2pix/CycleGAN code; U-Net files
    become method "pix2pix", ResNet files "cyclegan". The generator translates `domains[0]` →
    `domains[1]`. Preprocessing is the reference's: [0, 1] pixels → (x − 0.5)/0.5, training side 256.

    `munit`: an NVlabs/MUNIT `gen_*.pt` ({'a': AdaINGen, 'b': AdaINGen}); method "munit" with the two
    directions `domains[0]->domains[1]` (a's content encoder, b's style encoder and decoder) and back,
    style codes from N(0, I) or a reference image; training side 256.

    `funit`: an NVlabs/FUNIT `gen_*.pt` ({'gen', 'gen_test'}; `gen_test`, the averaged weights the
    official test script uses, is taken when present); method "funit", one direction
    "content->class" (its domains are always content and class: `domains` must be left at its
    default), class code = mean of the K class images' codes; training side 128.

    Raises I2IError for an unknown source, bad domains or a file that is not such a state dict.
    """
    if source not in SOURCES:
        raise I2IError(f"unknown weights source {source!r}; choose one of: {', '.join(SOURCES)}")
    domains = list(domains)
    if len(domains) != 2 or domains[0] == domains[1] or any(not d or "->" in d for d in domains):
        raise I2IError(f"--domains needs two different names without '->', got {domains}")
    file, out = Path(file), Path(out)
    if out.suffix.lower() != ".safetensors":
        raise I2IError(f"--out must name a .safetensors file, got {out}")

    if source == "munit":
        return _import_munit(file, out, domains)
    if source == "funit":
        return _import_funit(file, out, domains)

    generator = _read_weights(file, load_state_dict, generator_from_reference, f"a {JUNYANZ_REPOSITORY} generator")
    config = generator.config
    if config.in_channels != config.out_channels:
        # Preprocess has one mean/std for input and output: a channel-changing generator does not fit it.
        raise I2IError(f"{file}: the generator maps {config.in_channels} to {config.out_channels} channels; "
                       f"i2i checkpoints translate between images with the same number of channels")
    method = "cyclegan" if isinstance(generator, ResNetGenerator) else "pix2pix"
    direction = f"{domains[0]}->{domains[1]}"
    channels = config.in_channels
    preprocess = Preprocess(size=256, channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels,
                            multiple_of=config.multiple_of, min_size=config.min_size)
    generators = {direction: generator}
    # The reference tests with BatchNorm in training mode on one image at a time: per-image statistics
    # (the same mode i2i's own training writes; instance-norm networks are unaffected by it).
    header = make_header(method, domains, generators, preprocess, inference={"batchnorm": "per_image"},
                         recipe={}, trained={"imported_from": file.name, "source": JUNYANZ_REPOSITORY})
    save_checkpoint(out, generators, header)
    return ImportReport(out, method, direction, describe(generator)["architecture"],
                        sum(p.numel() for p in generator.parameters()))


def _import_munit(file: Path, out: Path, domains: list[str]) -> ImportReport:
    gen_a, gen_b = _read_weights(file, load_official, munit_generators_from_official,
                                 f"an {MUNIT_REPOSITORY} generator file")
    config = gen_a.config
    if gen_b.config != config:
        # A direction joins one domain's content encoder to the other's decoder: their shapes must agree.
        raise I2IError(f"{file}: the generators of domains a and b differ in shape ({config} vs "
                       f"{gen_b.config}); an i2i MUNIT direction needs both alike")
    _check_channels(file, config.in_channels, config.out_channels)
    a, b = domains
    generators: dict[str, nn.Module] = {f"{a}->{b}": MUNITGenerator.cross(gen_a, gen_b),
                                        f"{b}->{a}": MUNITGenerator.cross(gen_b, gen_a)}
    conditioning = {"kind": CodeKind.STYLE, "code_dim": config.style_dim, "prior": "normal"}
    return _write(out, "munit", domains, generators, _preprocess(256, config), conditioning,
                  {"imported_from": file.name, "source": MUNIT_REPOSITORY}, [gen_a, gen_b])


def _import_funit(file: Path, out: Path, domains: list[str]) -> ImportReport:
    if domains not in (["A", "B"], FUNIT_DOMAINS):
        raise I2IError(f"--domains does not apply to funit: its checkpoint translates content images into "
                       f"the class of the class images (domains content and class), got {domains}")

    def read(state: dict[str, Tensor]) -> tuple[str | None, nn.Module]:
        return select_funit_state(state)[0], funit_generator_from_official(state)

    weights, generator = _read_weights(file, load_official, read, f"an {FUNIT_REPOSITORY} generator file")
    config = generator.config
    _check_channels(file, config.in_channels, config.out_channels)
    conditioning = {"kind": CodeKind.CLASS, "code_dim": config.class_dim, "k_shot": "mean of the K codes",
                    "training_classes": []}
    trained = {"imported_from": file.name, "source": FUNIT_REPOSITORY}
    if weights is not None:
        trained["weights"] = weights
    return _write(out, "funit", FUNIT_DOMAINS, {FUNIT_DIRECTION: generator}, _preprocess(128, config),
                  conditioning, trained, [generator])


def _preprocess(size: int, config: Any) -> Preprocess:
    channels = config.in_channels
    return Preprocess(size=size, channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels,
                      multiple_of=config.multiple_of, min_size=config.min_size)


def _check_channels(file: Path, in_channels: int, out_channels: int) -> None:
    if in_channels != out_channels:
        raise I2IError(f"{file}: the generator maps {in_channels} to {out_channels} channels; "
                       f"i2i checkpoints translate between images with the same number of channels")


def _write(out: Path, method: str, domains: list[str], generators: dict[str, nn.Module],
           preprocess: Preprocess, conditioning: dict[str, Any], trained: dict[str, Any],
           imported: list[nn.Module]) -> ImportReport:
    # No BatchNorm in these networks; "per_image" is the mode every i2i checkpoint names.
    header = make_header(method, domains, generators, preprocess, inference={"batchnorm": "per_image"},
                         recipe={}, trained=trained, conditioning=conditioning)
    save_checkpoint(out, generators, header)
    direction = next(iter(generators))
    parameters = {id(p): p.numel() for module in imported for p in module.parameters()}
    return ImportReport(out, method, direction, describe(generators[direction])["architecture"],
                        sum(parameters.values()))


def _read_weights(file: Path, load: Callable[[Path], dict[str, Tensor]], build: Callable[[dict[str, Tensor]], Any],
                  expected: str) -> Any:
    """`build(load(file))`, or one I2IError naming the file and what is wrong: missing, not a state dict
    of plain tensors, unreadable, or not `expected` (e.g. "a junyanz/… generator")."""
    if not file.is_file():
        raise I2IError(f"{file} does not exist")
    try:
        state = load(file)
    except pickle.UnpicklingError:
        # torch's own message here advises weights_only=False, which is exactly what we must not do.
        raise I2IError(f"{file}: not a PyTorch state dict of plain tensors (not a PyTorch file, or one "
                       f"holding pickled objects, which i2i never loads)") from None
    except Exception as error:  # truncated archives, non-dict contents, …: their first line says which
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = reason.removeprefix(f"{file}: ")  # the loaders name the file themselves
        raise I2IError(f"{file}: not a readable PyTorch state dict ({reason})") from None
    try:
        return build(state)
    except (ValueError, KeyError, RuntimeError, AttributeError, IndexError) as error:
        # KeyError's str() quotes its message; args[0] is the plain text.
        reason = str(error.args[0] if error.args else type(error).__name__).splitlines()[0]
        raise I2IError(f"{file}: not {expected} ({reason})") from None
