"""Which outputs a conditioned generator writes: the backend bound to each style or class code, with
its jobs (one variant for plain generators, a reference style or a class; K for K random styles)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from i2i.errors import I2IError
from i2i.inference import codes as conditioning
from i2i.inference.backend import Backend
from i2i.inference.codes import CodeKind
from i2i.inference.jobs import Job


def conditioned_variants(backend: Backend, jobs: list[Job], style: str | Path | None = None,
                         num_styles: int | None = None, seed: int = 0,
                         class_images: str | Path | None = None) -> list[tuple[Backend, list[Job]]]:
    """(backend bound to a code, jobs) per output variant: one for plain generators, a reference style
    or a class; K for `num_styles` random styles, their outputs named NAME_style{k}."""
    kind = backend.conditioning.get("kind")
    given = [flag for flag, value in (("--style", style), ("--num-styles", num_styles),
                                      ("--class-images", class_images)) if value is not None]
    if kind is None:
        if given:
            raise I2IError(f"{', '.join(given)}: {backend.description} is not a MUNIT/FUNIT model (it takes no code)")
        return [(backend, jobs)]
    size, dim = backend.preprocess.size, int(backend.conditioning["code_dim"])
    if kind == CodeKind.CLASS:
        if class_images is None or style is not None or num_styles is not None:
            raise I2IError("a FUNIT model translates into the class shown by --class-images DIR "
                           "(K images of one class); --style and --num-styles are for MUNIT")
        files = conditioning.class_images(class_images)
        return [(backend.with_code(conditioning.class_code(backend.encode, files, size)), jobs)]
    if class_images is not None or (style is not None and num_styles is not None):
        raise I2IError("a MUNIT model takes either --style IMAGE or --num-styles K (--class-images is for FUNIT)")
    if style is not None:
        return [(backend.with_code(conditioning.style_code(backend.encode, style, size)), jobs)]
    codes = conditioning.prior_codes(num_styles or 1, dim, seed)
    if len(codes) == 1:
        return [(backend.with_code(codes), jobs)]
    return [(backend.with_code(code), [replace(job, target=job.target.with_name(f"{job.target.stem}_style{k}"
                                                                              f"{job.target.suffix}")) for job in jobs])
            for k, code in enumerate(codes)]
