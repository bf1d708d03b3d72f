"""Import other projects' pretrained generators as self-describing i2i checkpoints.

The result is an ordinary i2i checkpoint: `translate`, `export` and `eval` use it like one that i2i
trained, with no architecture or preprocessing flags. Foreign files are read with
`torch.load(weights_only=True)` only: no pickled code runs.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from i2i.checkpoint import make_header, save_checkpoint
from i2i.errors import I2IError
from i2i.importers.junyanz import generator_from_reference, load_state_dict
from i2i.models import ResNetGenerator, describe
from i2i.preprocess import Preprocess

SOURCES = ("junyanz",)
JUNYANZ_REPOSITORY = "junyanz/pytorch-CycleGAN-and-pix2pix"


@dataclass
class ImportReport:
    path: Path                  # the checkpoint written
    method: str                 # "cyclegan" or "pix2pix"
    direction: str              # "A->B"
    architecture: str           # registry name of the generator
    parameters: int


def import_weights(source: str, file: str | Path, out: str | Path,
                   domains: Sequence[str] = ("A", "B")) -> ImportReport:
    """Read a `source` generator file and write it to `out` as a one-direction i2i checkpoint.

    `junyanz`: a `latest_net_G*.pth` state dict of the reference pix2pix/CycleGAN code; U-Net files
    become method "pix2pix", ResNet files "cyclegan". The generator translates `domains[0]` →
    `domains[1]`. Preprocessing is the reference's: [0, 1] pixels → (x − 0.5)/0.5, training side 256.
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

    generator = _read_junyanz(file)
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


def _read_junyanz(file: Path) -> nn.Module:
    """The reference generator in `file`, or one I2IError naming the file and what is wrong."""
    if not file.is_file():
        raise I2IError(f"{file} does not exist")
    try:
        state = load_state_dict(file)
    except pickle.UnpicklingError:
        # torch's own message here advises weights_only=False, which is exactly what we must not do.
        raise I2IError(f"{file}: not a PyTorch state dict of plain tensors (not a PyTorch file, or one "
                       f"holding pickled objects, which i2i never loads)") from None
    except Exception as error:  # truncated archives, non-dict contents, …: their first line says which
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = reason.removeprefix(f"{file}: ")  # load_state_dict names the file itself
        raise I2IError(f"{file}: not a readable PyTorch state dict ({reason})") from None
    try:
        return generator_from_reference(state)
    except (ValueError, KeyError, RuntimeError, AttributeError, IndexError) as error:
        # KeyError's str() quotes its message; args[0] is the plain text.
        reason = str(error.args[0] if error.args else type(error).__name__).splitlines()[0]
        raise I2IError(f"{file}: not a {JUNYANZ_REPOSITORY} generator ({reason})") from None
