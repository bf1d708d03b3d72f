"""Fetching the reference releases (see `i2i.hub.catalog`): resumable HTTP downloads and safe unpacking.

`download` streams into `FILE.part` and renames it to `FILE` only after the size checks, so a kill at
any moment leaves nothing, a `.part` that the next call resumes (HTTP Range), or the complete file.
`download_dataset` unpacks into a temporary folder next to DIR and moves the result in by renames, so
DIR never holds a half-extracted data set. HTTP is the standard library's urllib: plain GETs of
static files need nothing more.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from i2i.errors import I2IError
from i2i.hub import catalog

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30  # per connect and per read, not for the whole file: slow but steady downloads go on
USER_AGENT = "i2i-download"
DATA_MIRRORS = ("the data sets are mirrored elsewhere (Hugging Face huggan/*, Kaggle): download one by hand "
                "and unpack it into DIR")
WEIGHTS_BY_HAND = "a .pth fetched by other means converts with `i2i weights import junyanz FILE --out …`"

# What a broken archive raises while it is read: zipfile, tarfile, gzip and zlib each have their own.
_CORRUPT = (zipfile.BadZipFile, tarfile.ReadError, gzip.BadGzipFile, EOFError, zlib.error)


class ServerUnreachable(I2IError):
    """No HTTP answer at all (name lookup, refused connection, timeout); callers add where else to look."""


@dataclass
class DatasetReport:
    directory: Path
    folders: dict[str, int]     # data-set folder in `directory` → number of files in it
    downloaded: bool            # False: `directory` already held the data set and was left alone


def cache_dir() -> Path:
    """Where downloads without an explicit destination go: `$XDG_CACHE_HOME/i2i` (default `~/.cache/i2i`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "i2i"


def download(url: str, dest_path: str | Path, *, expected_size: int | None = None,
             progress: bool = True) -> Path:
    """Fetch `url` into `dest_path` and return its path; an existing `dest_path` is returned as it is.

    Bytes go to `dest_path` + ".part"; an existing part is resumed with a Range request (a server that
    answers with the whole file restarts it). The part is renamed to `dest_path` (atomically) only when
    its size equals the server's Content-Length and `expected_size` when given. Raises I2IError for an
    unreachable server (`ServerUnreachable`), an HTTP error status, a transfer that broke off (the part
    is kept: call again to resume) and a size mismatch (the part is deleted: the next call starts over).
    `progress` prints the URL on stderr and, when stderr is a terminal, a progress bar.
    """
    dest = Path(dest_path)
    if dest.is_file():
        return dest  # only a complete, checked download is ever renamed to this name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if progress:
        print(f"downloading {url} → {dest}", file=sys.stderr)
    total = _fetch_into(part, url, expected_size, progress)
    _check_size(part, url, total, expected_size)
    os.replace(part, dest)
    return dest


def _fetch_into(part: Path, url: str, expected_size: int | None, progress: bool) -> int | None:
    """Bring `part` up to the end of the file; the file's size as the server states it (None: not stated)."""
    offset = part.stat().st_size if part.is_file() else 0
    with _open(url, offset) as response:
        if response.status == 416:  # nothing lies after `offset`
            total = (_content_range(response.headers) or (0, None))[1]
            if total == offset:
                return total  # an earlier run got every byte but stopped before the rename
            part.unlink()  # longer than the file (or the server will not say): a bad part
            return _fetch_into(part, url, expected_size, progress)  # offset 0: no Range, so no 416 again
        if response.status == 206:
            extent = _content_range(response.headers)
            if extent is None:
                raise I2IError(f"{url}: a partial answer without a valid Content-Range "
                               f"({response.headers.get('Content-Range')!r})")
            start, total = extent
        else:
            start, total = 0, _length(response)
        if start not in (0, offset):
            part.unlink()
            raise I2IError(f"{url}: asked to resume at byte {offset:,}, the server sent from byte {start:,}; "
                           f"deleted {part}, run again to start over")
        if expected_size is not None and total is not None and total != expected_size:
            part.unlink(missing_ok=True)
            raise I2IError(f"{url}: the server's file has {total:,} bytes, expected {expected_size:,}")
        _stream(response, part, start, total, progress, url)  # start 0 (also a Range ignored): a fresh part
    return total


def _open(url: str, offset: int) -> http.client.HTTPResponse | urllib.error.HTTPError:
    """The server's answer to a GET of `url` from byte `offset`: status 200, 206, or 416 (only when
    `offset` > 0). Anything else raises I2IError naming the status or the unreachable host."""
    headers = {"User-Agent": USER_AGENT} | ({"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return error
        error.close()
        raise I2IError(f"download failed: HTTP {error.code} {error.reason} for {url}") from None
    except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets, bad status lines
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise ServerUnreachable(f"cannot reach {urlsplit(url).hostname} ({reason}) for {url}") from None


def _length(response: http.client.HTTPResponse) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _content_range(headers: Message) -> tuple[int, int | None] | None:
    """(first byte sent, total size or None) from `Content-Range: bytes FIRST-LAST/TOTAL` (206) or
    `bytes */TOTAL` (416); None when the header is missing or malformed."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", headers.get("Content-Range", "").strip())
    if match is None:
        return None
    first, total = match.groups()
    return int(first or 0), None if total == "*" else int(total)


def _stream(response: http.client.HTTPResponse, part: Path, start: int, total: int | None, progress: bool,
            url: str) -> None:
    """Write the body to `part`: appended when `start` > 0, else from scratch. A read error keeps what
    arrived and raises I2IError saying a new run resumes."""
    show = progress and sys.stderr.isatty()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with part.open("ab" if start else "wb") as out, \
            Progress(*columns, console=Console(stderr=True), disable=not show) as bar:
        task = bar.add_task(part.name.removesuffix(".part"), total=total, completed=start)
        while True:
            try:
                chunk = response.read1(CHUNK_BYTES)  # what has arrived: a stall later loses none of it
            except (OSError, http.client.HTTPException) as error:
                raise I2IError(f"download of {url} broke off after {out.tell():,} bytes "
                               f"({error or type(error).__name__}); run again to resume") from None
            if not chunk:
                return
            out.write(chunk)
            bar.update(task, advance=len(chunk))


def _check_size(part: Path, url: str, total: int | None, expected_size: int | None) -> None:
    size = part.stat().st_size
    if total is not None and size < total:
        # http.client ends a body that stops short of Content-Length without an error: this is that case.
        raise I2IError(f"download of {url} broke off after {size:,} of {total:,} bytes; run again to resume")
    wanted = expected_size if expected_size is not None else total
    if wanted is not None and size != wanted:
        part.unlink()
        raise I2IError(f"{url}: got {size:,} bytes, expected {wanted:,}; deleted {part}, "
                       f"run again to start over")


def extract(archive: Path, into: Path) -> None:
    """Unpack the .zip, .tar.gz or .tar `archive` (by its name) into the existing folder `into`.

    Raises I2IError naming the archive for a corrupt file and for a member that would land outside
    `into` (absolute path or '..': path traversal; tar links and devices are refused by tarfile's
    "data" filter). What was unpacked before the error stays in `into`: extract into a scratch folder.
    """
    is_zip = archive.name.endswith(".zip")
    try:
        if is_zip:
            with zipfile.ZipFile(archive) as zipped:
                for name in zipped.namelist():  # the central directory: every name before any byte is written
                    _check_member(archive, name)
                zipped.extractall(into)
        else:
            with tarfile.open(archive, "r:*") as tar:  # .tar.gz, or a plain .tar
                for member in tar:  # one pass over the compressed stream
                    _check_member(archive, member.name)
                    tar.extract(member, into, filter="data")
    except tarfile.FilterError as error:
        raise I2IError(f"{archive}: refusing to extract a member ({error})") from None
    except _CORRUPT as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise I2IError(f"{archive} is not a readable {'zip' if is_zip else 'tar.gz'} archive "
                       f"({reason})") from None


def _check_member(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name):
        raise I2IError(f"{archive}: refusing to extract {name!r}: an absolute path or '..' (path traversal)")


def download_dataset(name: str, directory: str | Path, *, force: bool = False, keep_archive: bool = False,
                     progress: bool = True) -> DatasetReport:
    """Fetch the catalog data set `name` and unpack it into `directory` in the layout i2i reads:
    `trainA trainB testA testB` (unpaired) or `train val test` (paired) directly inside it.

    A `directory` that already holds such folders is left alone unless `force` (which replaces them;
    other files in `directory` are never touched). The archive is downloaded next to `directory`,
    deleted once unpacked (kept with `keep_archive`, and then reused by a later run) and also when it
    turns out corrupt or unsafe, so that the next run downloads it again. Raises I2IError.
    """
    entry = catalog.dataset(name)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise I2IError(f"{directory} is a file; give a folder to unpack {name} into")
    folders = catalog.LAYOUTS[entry.kind]
    present = _count_files(directory, folders)
    if present and not force:
        return DatasetReport(directory, present, downloaded=False)
    archive = directory.resolve().parent / entry.url.rsplit("/", 1)[1]
    try:
        download(entry.url, archive, progress=progress)
    except ServerUnreachable as error:
        raise I2IError(f"{error}; {DATA_MIRRORS}") from None
    try:
        _unpack(archive, directory, folders)
    except I2IError as error:
        archive.unlink(missing_ok=True)
        raise I2IError(f"{error}; deleted it, so the next run downloads it again") from None
    if not keep_archive:
        archive.unlink()
    return DatasetReport(directory, _count_files(directory, folders), downloaded=True)


def _unpack(archive: Path, directory: Path, folders: tuple[str, ...]) -> None:
    """Extract `archive` into a scratch folder next to `directory` (same file system, so moves are
    renames), then move the data-set `folders` it holds into `directory`."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{directory.resolve().name}.", suffix=".i2i-tmp",
                                    dir=archive.parent))
    try:
        extract(archive, scratch)
        root = _data_set_root(scratch, folders)
        found = [folder for folder in folders if (root / folder).is_dir()]
        if not found:
            held = sorted(p.name for p in root.iterdir())[:12]
            raise I2IError(f"{archive} holds none of {', '.join(folders)} (at its top or in its one top "
                           f"folder); it holds: {', '.join(held) or 'nothing'}")
        if not directory.exists():
            os.replace(root, directory)  # one rename: the data set appears whole or not at all
            return
        # `directory` exists (it may be the working folder, or hold other files): move the data-set
        # folders in one rename each, after moving aside any that --force replaces.
        for folder in folders:
            if (directory / folder).exists():
                os.replace(directory / folder, scratch / f".replaced-{folder}")
        for folder in found:
            os.replace(root / folder, directory / folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _data_set_root(scratch: Path, folders: tuple[str, ...]) -> Path:
    """Where the data-set folders lie: the archive's top, or its single top folder (`horse2zebra/…`)."""
    if any((scratch / folder).is_dir() for folder in folders):
        return scratch
    entries = list(scratch.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else scratch


def _count_files(directory: Path, folders: tuple[str, ...]) -> dict[str, int]:
    """{folder: number of files in it} for those of `folders` that exist in `directory`."""
    return {folder: sum(1 for p in (directory / folder).rglob("*") if p.is_file())
            for folder in folders if (directory / folder).is_dir()}


def download_pretrained(name: str, out: str | Path | None = None, *, progress: bool = True) -> Path:
    """Fetch the catalog's pretrained generator `name` (a reference `.pth` state dict) to `out`
    (default: the cache folder, mirroring the server's paths) and return its path; a file already
    there is reused. Raises I2IError."""
    entry = catalog.pretrained(name)
    out = Path(out) if out is not None else cache_dir() / entry.path
    try:
        return download(entry.url, out, progress=progress)
    except ServerUnreachable as error:
        raise I2IError(f"{error}; {WEIGHTS_BY_HAND}") from None
