"""`i2i data demo NAME DIR`: make a built-in data set; `i2i data download NAME DIR`: fetch a reference one."""

from __future__ import annotations

from pathlib import Path

import typer

from i2i.errors import I2IError
from i2i.hub import catalog

app = typer.Typer(help="Built-in demo data sets, and downloads of the pix2pix/CycleGAN ones.",
                  no_args_is_help=True)

DEMOS = ("shapes", "stripes", "tones", "styles", "classes", "photos", "clip")


def _demo_clip(directory: Path, frames: int, height: int, seed: int) -> None:
    from i2i.data.demo.clip import make_clip

    width = height * 16 // 9 // 2 * 2  # 16:9, even (4:2:0 chroma)
    try:
        path = make_clip(directory, frames=frames, height=height, width=width, seed=seed)
    except ValueError as error:
        raise I2IError(str(error)) from None
    typer.echo(f"wrote {path}: {frames} frames of {width}×{height} at 24 frames/s, with sound")


@app.command()
def demo(
    name: str = typer.Argument(..., help=f"Which demo set: {', '.join(DEMOS)}."),
    directory: Path = typer.Argument(..., help="Folder to write it into (created if missing)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same files."),
    num_train: int = typer.Option(400, help="Training pairs (stripes, styles: training images per domain; "
                                            "classes: images per class)."),
    num_test: int = typer.Option(50, help="Held-out test pairs (stripes, styles: the same scene in both "
                                          "domains; not used by classes)."),
    size: int | None = typer.Option(None, help="Image side in pixels (default 64; clip: the frame height, 144)."),
    frames: int = typer.Option(96, help="clip only: number of frames (24 per second)."),
    num_classes: int = typer.Option(16, help="classes only: number of appearance classes."),
    held_out: int = typer.Option(4, help="classes only: how many of them (the last) are held out, "
                                         "written to unseen/."),
) -> None:
    """Write a built-in data set. `shapes` (pix2pix): paired outline drawings (A) → coloured, shaded
    shapes (B). `stripes` (CycleGAN): unpaired domains `plain` (flat-coloured shapes) and `striped`
    (the same kind of shapes with zebra-like stripes); its test split is paired for scoring. `tones`
    (CycleGAN on real photos): crops of scikit-image's photographs (`photo`) and other crops through
    a fixed colour grade (`toned`); its test split is paired, from held-out photos. `styles`
    (MUNIT): unpaired domains `outline` (greyscale outlines) and `painted` (shapes in one of 5 colour
    palettes, the style); its test split is paired. `classes` (FUNIT): --num-classes appearance classes
    (background, fill colour, texture) over random shapes, --num-train images each, the last --held-out
    classes in unseen/ for few-shot translation. `photos` (srgan): scikit-image's bundled photographs,
    13 for training and 4 held out (needs scikit-image). `clip` (translate a video): pan.mp4, a camera
    pan over a bundled photograph with sensor noise and a sine tone, 96 frames of 256×144 at 24 frames/s
    (--frames, and --size for the height)."""
    if name not in DEMOS:
        raise I2IError(f"unknown demo data set {name!r}; choose one of: {', '.join(DEMOS)}")
    from i2i.data.demo.classes import make_classes
    from i2i.data.demo.photos import make_photos
    from i2i.data.demo.shapes import make_shapes
    from i2i.data.demo.stripes import make_stripes
    from i2i.data.demo.tones import make_tones
    from i2i.data.demo.styles import make_styles

    if name == "clip":
        return _demo_clip(directory, frames, size or 144, seed)
    size = size or 64
    if name == "photos":
        counts = make_photos(directory)
        typer.echo(f"wrote photos to {directory}: " + ", ".join(f"{split} {n} images" for split, n in counts.items()))
        return
    if name == "classes":
        try:
            make_classes(directory, seed=seed, num_per_class=num_train, num_classes=num_classes,
                         num_held_out=held_out, size=size)
        except ValueError as error:
            raise I2IError(str(error)) from None
        typer.echo(f"wrote classes to {directory}: {num_classes - held_out} training classes, "
                   f"{held_out} held-out classes, {num_train} images each")
        return
    make = {"shapes": make_shapes, "stripes": make_stripes, "tones": make_tones, "styles": make_styles}[name]
    try:
        counts = make(directory, seed=seed, num_train=num_train, num_test=num_test, size=size)
    except ValueError as error:
        raise I2IError(str(error)) from None
    unit = "pairs" if name == "shapes" else "images per domain"
    typer.echo(f"wrote {name} to {directory}: " + ", ".join(f"{split} {n} {unit}" for split, n in counts.items()))


@app.command()
def download(
    name: str | None = typer.Argument(None, help="Data set, as --list names it: pix2pix sets by their "
                                                 "plain name (facades, maps, cityscapes, edges2shoes, …), "
                                                 "CycleGAN sets by theirs (horse2zebra, monet2photo, …), "
                                                 "and as cyclegan/facades, cyclegan/maps where both "
                                                 "releases use the name."),
    directory: Path | None = typer.Argument(None, help="Folder to unpack into; it gets trainA trainB testA "
                                                       "testB (CycleGAN) or train val test (pix2pix) "
                                                       "directly."),
    list_: bool = typer.Option(False, "--list", help="List the data sets (approx. sizes, what A and B "
                                                     "hold)."),
    force: bool = typer.Option(False, "--force", help="Unpack again although DIR already holds a data set "
                                                      "(replaces those folders, nothing else)."),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the downloaded archive next to DIR "
                                                                    "(a later run reuses it)."),
) -> None:
    """Download a pix2pix/CycleGAN data set and unpack it into DIR, in the layout i2i reads.

    Files come from http://efrosgans.eecs.berkeley.edu; the environment variable I2I_DOWNLOAD_BASE_URL
    replaces that prefix (a mirror with the same paths). Run again to resume a broken-off download."""
    if list_:
        _print_datasets()
        return
    if name is None or directory is None:
        raise I2IError("give a data set NAME and a DIR to unpack it into "
                       "(`i2i data download --list` names them)")
    from i2i.hub.download import download_dataset

    entry = catalog.dataset(name)
    report = download_dataset(name, directory, force=force, keep_archive=keep_archive)
    folders = ", ".join(f"{folder} {count} files" for folder, count in report.folders.items())
    if not report.downloaded:
        typer.echo(f"{directory} already holds a data set ({folders}); nothing to do "
                   f"(--force unpacks {name} again)")
        return
    typer.echo(f"unpacked {name} into {directory}: {folders}")
    a, b = entry.domains
    if entry.kind == "unpaired" and "trainA" in report.folders:
        domains = "" if (a, b) == ("A", "B") else f" --domains {a} {b}"
        typer.echo(f"A = {a}, B = {b}; train with: i2i train cyclegan --data {directory}{domains}")
    elif entry.kind == "paired" and "train" in report.folders:
        typer.echo(f"A = {a} (left halves), B = {b} (right halves); train with: i2i train pix2pix --data "
                   f"{directory} (add --set data.direction=BtoA for {b} → {a})")
    elif entry.kind.startswith("div2k"):
        typer.echo(f"super-resolution: i2i train srgan --data {directory} --scale 4")
    elif entry.kind == "sr_benchmark":
        typer.echo(f"evaluate with: i2i eval RUN --data {directory}/Set5/HR")


def _print_datasets() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Data sets: pix2pix/CycleGAN (a name in both releases is pix2pix's; the CycleGAN one "
                        "is cyclegan/NAME) and super-resolution",
                  caption=f"from {catalog.base_url()} unless the host is named in the listing below (set "
                          f"{catalog.BASE_URL_VARIABLE} for a mirror of every path); "
                          f"not served: {', '.join(catalog.UNAVAILABLE_DATASETS)} (licence)")
    for column in ("name", "kind", "A", "B", "approx. size", "about"):
        table.add_column(column, no_wrap=column != "about")
    for name, entry in catalog.DATASETS.items():
        note = entry.note if entry.host is None else f"{entry.note} ({entry.url})"
        table.add_row(name, entry.kind, *entry.domains, entry.approx_size, note)
    console = Console()
    if not console.is_terminal:  # piped: one line per row, for grep and copy, instead of 80 columns
        console.width = console.measure(table, options=console.options.update_width(10_000)).maximum
    console.print(table)
