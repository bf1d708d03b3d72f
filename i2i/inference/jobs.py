"""Inputs and outputs of a translation run: every input file mapped to its output path.

Folders keep their inner tree, globs their path below the pattern's fixed prefix, single files their
name; two inputs may never map to one output, and an existing output is never replaced unless asked.
A killed run leaves only temporaries (`i2i.files.atomic_write`), which the next run removes.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from i2i.errors import I2IError
from i2i.images import IMAGE_EXTENSIONS, WRITABLE_EXTENSIONS, images_under, is_image_file


@dataclass
class Job:
    source: Path
    target: Path


def collect_jobs(inputs: Iterable[str], out_dir: str | Path) -> list[Job]:
    """Map every input image to its output path; folders keep their inner tree, globs their
    path below the pattern's fixed prefix, single files their name."""
    out_dir = Path(out_dir)
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = images_under(path)
            if not files:
                raise I2IError(f"input folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            jobs += [Job(f, out_dir / f.relative_to(path)) for f in files]
        elif path.is_file():
            jobs.append(Job(path, out_dir / path.name))
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            files = [m for m in matches if m.is_file() and is_image_file(m)]
            if not files:
                raise I2IError(f"pattern {item!r} matches no image files")
            base = Path(item.split("*")[0].split("?")[0].split("[")[0])
            base = base if item.endswith(("/", "\\")) or base.is_dir() else base.parent
            jobs += [Job(f, out_dir / _relative_or_name(f, base)) for f in files]
        else:
            raise I2IError(f"input {item} does not exist")
    for job in jobs:
        if job.target.suffix.lower() not in WRITABLE_EXTENSIONS:
            job.target = job.target.with_suffix(".png")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen and seen[job.target] != job.source:
            raise I2IError(f"{seen[job.target]} and {job.source} would both be written to {job.target}; "
                           f"translate them into different --out folders")
        seen[job.target] = job.source
    unique = {job.target: job for job in jobs}  # the same file given twice is translated once
    return list(unique.values())


def _relative_or_name(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


# What i2i.files.atomic_write names its temporary file for TARGET: ".TARGET.<8 random chars>.i2i-tmp<ext>".
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.i2i-tmp.*")


def remove_stale_temporaries(targets: Iterable[Path]) -> int:
    """Delete the temporary files that a killed run left beside these outputs (never a finished file,
    nor the temporaries of outputs that are not ours, e.g. another rank's); returns how many."""
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(target.name)
    removed = 0
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMPORARY.fullmatch(entry.name)
            if match is not None and match["target"] in names and entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


def check_output_flags(overwrite: bool, skip_existing: bool) -> None:
    if overwrite and skip_existing:
        raise I2IError("--overwrite and --skip-existing exclude each other: replace the existing outputs, "
                       "or keep them and translate only the missing ones")


def prepare_outputs(jobs: list[Job], *, overwrite: bool = False,
                    skip_existing: bool = False) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because their output exists). Without either flag an existing output
    is a usage error, raised before anything is written. Temporaries of a killed run are removed."""
    check_output_flags(overwrite, skip_existing)
    remove_stale_temporaries(job.target for job in jobs)
    missing: list[Job] = []
    existing: list[Job] = []
    for job in jobs:
        (existing if job.target.exists() else missing).append(job)
    if existing and not overwrite and not skip_existing:
        raise I2IError(f"{existing[0].target} already exists ({len(existing)} of {len(jobs)} outputs would be "
                       f"overwritten); pass --overwrite, --skip-existing to resume, or choose another --out")
    return (missing, existing) if skip_existing else (jobs, [])
