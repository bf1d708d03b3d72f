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
from i2i.inference.video_io import VIDEO_EXTENSIONS, is_video_file, looks_like_video, output_name


@dataclass
class Job:
    source: Path
    target: Path
    video: bool = False   # a clip: translated frame by frame into a clip (inference/video.py)


def collect_jobs(inputs: Iterable[str], out_dir: str | Path) -> list[Job]:
    """Map every input image and video to its output path; folders keep their inner tree, globs their
    path below the pattern's fixed prefix, single files their name (a video's container is kept when
    i2i writes it, else it becomes .mp4)."""
    out_dir = Path(out_dir)
    jobs: list[Job] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = _media_under(path)
            if not files:
                raise I2IError(f"input folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)}) "
                               f"or videos ({', '.join(VIDEO_EXTENSIONS)})")
            jobs += [_job(f, out_dir / f.relative_to(path)) for f in files]
        elif path.is_file():
            jobs.append(_job(path, out_dir / path.name, probe_unknown=True))
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            files = [m for m in matches if m.is_file() and (is_image_file(m) or is_video_file(m))]
            if not files:
                raise I2IError(f"pattern {item!r} matches no image or video files")
            base = Path(item.split("*")[0].split("?")[0].split("[")[0])
            base = base if item.endswith(("/", "\\")) or base.is_dir() else base.parent
            jobs += [_job(f, out_dir / _relative_or_name(f, base)) for f in files]
        else:
            raise I2IError(f"input {item} does not exist")
    for job in jobs:
        if job.video:
            job.target = job.target.with_name(output_name(job.target))
        elif job.target.suffix.lower() not in WRITABLE_EXTENSIONS:
            job.target = job.target.with_suffix(".png")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen and seen[job.target] != job.source:
            raise I2IError(f"{seen[job.target]} and {job.source} would both be written to {job.target}; "
                           f"translate them into different --out folders")
        seen[job.target] = job.source
    unique = {job.target: job for job in jobs}  # the same file given twice is translated once
    return list(unique.values())


def _media_under(folder: Path) -> list[Path]:
    """The images and videos under `folder`, sorted (videos by their extension: probing every file of
    a large folder would cost a decoder start each)."""
    videos = [f for f in folder.rglob("*") if is_video_file(f) and f.is_file()
              and not any(part.startswith(".") for part in f.relative_to(folder).parts)]
    return sorted(images_under(folder) + videos)


def _job(source: Path, target: Path, probe_unknown: bool = False) -> Job:
    """A video job for a video file; a file named on the command line with an extension that is
    neither an image's nor a video's is probed (FFmpeg reads the container from its bytes)."""
    if is_video_file(source):
        return Job(source, target, video=True)
    if probe_unknown and not is_image_file(source) and looks_like_video(source):
        return Job(source, target, video=True)
    return Job(source, target)


def _relative_or_name(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


# What i2i.files.atomic_write names its temporary file for TARGET: ".TARGET.<8 random chars>.i2i-tmp<ext>".
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.i2i-tmp.*")


def remove_stale_temporaries(targets: Iterable[Path]) -> int:
    """Delete the temporary files and claims that a killed run left beside these outputs; returns how
    many temporaries. Never a finished file, nor the leftovers of outputs that are not ours (e.g.
    another rank's), nor the temporaries of an output a live process is writing: an output's leftovers
    go only once its claim is taken (`i2i.inference.claims`; one that cannot be taken keeps them)."""
    from i2i.inference import claims  # claims import nothing of jobs; kept local to this function

    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(target.name)
    leftovers: dict[Path, list[Path]] = {}
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMPORARY.fullmatch(entry.name)
            name = match["target"] if match is not None else claims.claimed_name(entry.name)
            if name in names and entry.is_file():
                leftovers.setdefault(folder / name, []).append(entry)
    removed = 0
    for target, entries in leftovers.items():
        try:
            claim = claims.take(target)
        except OSError:  # e.g. a read-only folder: nothing can be written there either
            continue
        if isinstance(claim, str):  # a live process writes this output: its temporaries are its own
            continue
        for entry in entries:
            if claims.claimed_name(entry.name) is None:
                entry.unlink(missing_ok=True)
                removed += 1
        claim.release()  # deletes the claim file a dead process left, too
    return removed


def check_output_flags(overwrite: bool, skip_existing: bool) -> None:
    if overwrite and skip_existing:
        raise I2IError("--overwrite and --skip-existing exclude each other: replace the existing outputs, "
                       "or keep them and translate only the missing ones")


def prepare_outputs(jobs: list[Job], *, overwrite: bool = False,
                    skip_existing: bool = False) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because their output exists). Without either flag an existing output
    is a usage error, raised before anything is written. Temporaries and claims of a killed run are
    removed (those of outputs a live process is writing are left to it)."""
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
