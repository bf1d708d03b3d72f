"""Claims on outputs: translate processes sharing an output folder (two `--skip-existing` runs, a
rerun beside a live one) never write one file twice, nor delete each other's temporaries.

A claim is a file beside its output, `.NAME.i2i-claim`, locked with flock(2) by the process that
writes NAME and holding its pid and host (only to name it in messages). It is taken before the output
is translated and released after its atomic rename: the name is deleted, then the lock dropped. The
kernel drops a lock when its process ends, however it ends (`kill -9` too), so the claim of a dead
process is free to take — no pid check that pid reuse or another host could fool. Temporaries beside
an output are deleted only by the holder of its claim (`jobs.remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; outputs are still written atomically, unclaimed
    fcntl = None  # type: ignore[assignment]

SUFFIX = ".i2i-claim"
# File systems without flock (some FUSE mounts): the claim is taken without a lock.
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)


def claim_path(target: Path) -> Path:
    """Where the claim on `target` lives: `.NAME.i2i-claim` beside it."""
    return target.with_name(f".{target.name}{SUFFIX}")


def claimed_name(file_name: str) -> str | None:
    """The output name a claim file's name is for (".a.png.i2i-claim" → "a.png"), None if it is none."""
    if file_name.startswith(".") and file_name.endswith(SUFFIX) and len(file_name) > len(SUFFIX) + 1:
        return file_name[1:-len(SUFFIX)]
    return None


def busy(target: Path, holder: str) -> str:
    """The reason an output another live process holds is not written (translate names it so)."""
    return f"{target}: being written by another translate ({holder}); not overwritten"


@dataclass
class Claim:
    """A held claim on `target`; `release` gives it up (and deletes its file)."""

    target: Path
    descriptor: int

    def release(self) -> None:
        # Delete the name first: a process that opened it meanwhile finds its lock on a deleted file and
        # opens the name again (see `take`).
        try:
            os.unlink(claim_path(self.target))
        except FileNotFoundError:
            pass
        finally:
            os.close(self.descriptor)


def _holder(descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 256).decode(errors="replace").split()
    return f"pid {text[0]} on {text[1]}" if len(text) >= 2 else "another process"


def _lock(descriptor: int) -> bool:
    """Whether the exclusive lock was taken (False: a live process holds it)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno not in _NO_LOCKS:
            raise
    return True


def take(target: Path) -> Claim | str:
    """The claim on `target`, or who holds it (e.g. "pid 4711 on host-a") when a live process does.
    Raises OSError when the claim file cannot be made (e.g. a read-only folder)."""
    path = claim_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            if not _lock(descriptor):
                holder = _holder(descriptor)
                os.close(descriptor)
                return holder
            # Locked, but the holder before us may have released (deleted the name) after we opened
            # it: then the lock is on a deleted file, and the name is tried again.
            opened = os.fstat(descriptor)
            current = os.stat(path)
        except FileNotFoundError:
            os.close(descriptor)
            continue
        except BaseException:
            os.close(descriptor)
            raise
        if (current.st_ino, current.st_dev) == (opened.st_ino, opened.st_dev):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
            return Claim(target, descriptor)
        os.close(descriptor)


class Held:
    """The claims one run holds, by output (thread-safe: writes finish in other threads)."""

    def __init__(self) -> None:
        self._claims: dict[Path, Claim] = {}
        self._lock = threading.Lock()

    def take(self, target: Path) -> str | None:
        """None once the claim on `target` is held, else who holds it. Raises OSError (see `take`)."""
        claim = take(target)
        if isinstance(claim, str):
            return claim
        with self._lock:
            self._claims[target] = claim
        return None

    def release(self, *targets: Path) -> None:
        """Give back the claims on `targets` (all, when none is named); those not held are ignored."""
        with self._lock:
            claims = [self._claims.pop(t) for t in (targets or list(self._claims)) if t in self._claims]
        for claim in claims:
            claim.release()
