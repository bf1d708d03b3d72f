"""Atomic file writes: readers see the old file or the new one, never a partial one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], object], suffix: str = "", durable: bool = True) -> None:
    """Call `write(temporary_path)`, flush it to disk, then rename it over `path`.

    The temporary file sits in the same folder (a rename within one file system is atomic), so a kill
    at any moment — or a full disk — leaves either the previous file or the complete new one.
    `suffix` keeps the extension for writers that choose the format by it. `durable` also fsyncs
    before the rename, so the new file survives a power loss too (checkpoints); a killed process
    cannot leave a partial file either way.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".i2i-tmp{suffix}", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        if durable:
            with temporary.open("rb+") as stream:
                os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
