"""Finding a pretrained network's weights file without internet: one lookup order for every metric
and loss that needs one (VGG19 for the perceptual loss, AlexNet for LPIPS, Inception for FID)."""

from __future__ import annotations

import os
from pathlib import Path

from i2i.errors import I2IError


def hub_cache_file(name: str) -> Path:
    """Where torch.hub-based downloaders (torchvision, torch-fidelity) keep the file `name` once
    downloaded: `torch.hub.get_dir()/checkpoints/` (honours $TORCH_HOME)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_weights_file(what: str, given: str | os.PathLike[str] | None, option: str, variable: str,
                      cached: Path) -> Path | None:
    """`given` (from the CLI `option`), else the environment `variable`, else the library's own
    `cached` file; None when none exists. A path that is given (argument or variable) but does not
    exist is an error rather than a reason to look further: the user meant that file."""
    for path, source in ((given, option), (os.environ.get(variable), f"${variable}")):
        if path is not None and str(path) != "":
            path = Path(path).expanduser()
            if not path.is_file():
                raise I2IError(f"{what} file {path} (from {source}) does not exist")
            return path
    return cached if cached.is_file() else None


def require_weights_file(needs: str, what: str, given: str | os.PathLike[str] | None, option: str, spelt: str,
                         variable: str, cached: Path, url: str, cache_owner: str) -> Path:
    """`find_weights_file`, or one I2IError saying who `needs` the file (e.g. "the perceptual loss
    needs"), `what` it is, where to download it and the three places it may go (`spelt`: the option as
    the user writes it, e.g. "--feature-weights PATH")."""
    found = find_weights_file(what, given, option, variable, cached)
    if found is not None:
        return found
    raise I2IError(f"{needs} {what} {cached.name} and they were not found: download {url} on a machine with "
                   f"internet and give the file with {spelt}, or with the environment variable {variable}=PATH, "
                   f"or copy it to {cached} ({cache_owner}'s cache)")


def read_state_dict(path: Path, what: str, expected: str) -> dict:
    """`torch.load(path, weights_only=True)` as a dict, or one I2IError naming the file: "{path}: not a
    readable PyTorch {what} file (…)" or "{path}: expected {expected}, found a <type>"."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip and I/O errors all mean "not a weights file"
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise I2IError(f"{path}: not a readable PyTorch {what} file ({message})") from None
    if not isinstance(state, dict):
        raise I2IError(f"{path}: expected {expected}, found a {type(state).__name__}")
    return state
