"""`i2i weights import FILE --out CHECKPOINT`: pretrained weights from other projects, the source detected;
`i2i weights list` / `i2i weights download NAME`: the reference pix2pix/CycleGAN release."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from i2i.errors import I2IError
from i2i.hub import catalog

if TYPE_CHECKING:  # the importers import torch: only inside the commands
    from i2i.importers.dispatch import ImportReport

app = typer.Typer(help="Download and import official pretrained weights as i2i checkpoints.",
                  no_args_is_help=True)


@app.command("import")
def import_(
    args: list[str] = typer.Argument(..., metavar="FILE", help="The weights file: a .pth/.pt/.ckpt (read "
                                     "with torch.load(weights_only=True)) or .safetensors. Its source is "
                                     "detected from the keys; the older form `import SOURCE FILE` still works."),
    out: Path = typer.Option(..., help="The .safetensors checkpoint to write."),
    from_: str | None = typer.Option(None, "--from", help="Force the source instead of detecting it: "
                                     "junyanz (junyanz/pytorch-CycleGAN-and-pix2pix latest_net_G*.pth), munit "
                                     "(NVlabs/MUNIT gen_*.pt), funit (NVlabs/FUNIT gen_*.pt), sr (ESRGAN and "
                                     "Real-ESRGAN RRDBNet, SRVGGNetCompact, BasicSR MSRResNet) or spandrel "
                                     "(SwinIR, HAT, DAT, … as the spandrel library detects them)."),
    domains: tuple[str, str] = typer.Option(("A", "B"), help="Names of the source and target domains "
                                                             "(junyanz; munit: the file's a and b)."),
    batchnorm: str = typer.Option("per_image", help="junyanz: how BatchNorm runs at inference: per_image "
                                  "(the reference test script's default) or running (its --eval)."),
    config: Path | None = typer.Option(None, help="munit/funit: the trainer's config.yaml (default: the "
                                       "one beside the run's checkpoints/ folder, when there is one)."),
) -> None:
    """Convert a pretrained generator from another project into an i2i checkpoint for translate,
    export, eval and fine-tuning (`i2i train METHOD --init`); says what it found."""
    from i2i.importers.dispatch import import_weights

    if len(args) == 2 and from_ is None:  # the older `import SOURCE FILE` (the source is checked below)
        from_, args = args[0], args[1:]
    if len(args) != 1:
        raise I2IError(f"give one weights FILE (optionally after its source), got {' '.join(args)}")
    report = import_weights(Path(args[0]), out, source=from_, domains=domains, batchnorm=batchnorm, config=config)
    _print_report(Path(args[0]), report)


def _print_report(file: Path, report: ImportReport) -> None:
    found = ", ".join(f"{key} {value}" for key, value in report.summary.items() if key != "architecture")
    typer.echo(f"imported {file} → {report.path} ({report.source}: {report.method}, {report.architecture}"
               f"{', ' + found if found else ''}, {report.parameters:,} parameters, {report.direction})")
    for note in report.notes:
        typer.echo(note)


@app.command("list")
def list_() -> None:
    """List the released pix2pix/CycleGAN generators that `i2i weights download` fetches.

    They come from junyanz/pytorch-CycleGAN-and-pix2pix. A name in both releases (sat2map, map2sat, facades_label2photo) is the pix2pix model; the CycleGAN
    one is cyclegan/NAME. I2I_DOWNLOAD_BASE_URL replaces http://efrosgans.eecs.berkeley.edu (a mirror)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pretrained reference generators (a name in both releases is pix2pix's; the "
                        "CycleGAN one is cyclegan/NAME)",
                  caption="i2i weights download NAME --import-to MODEL.safetensors")
    for column in ("name", "method", "translates", "generator", "url"):
        table.add_column(column, no_wrap=True)
    for name, entry in catalog.PRETRAINED.items():
        table.add_row(name, entry.method, " → ".join(entry.domains), entry.architecture, entry.url)
    console = Console()
    if not console.is_terminal:  # piped: one line per row, for grep and copy, instead of 80 columns
        console.width = console.measure(table, options=console.options.update_width(10_000)).maximum
    console.print(table)


@app.command()
def download(
    name: str = typer.Argument(..., help="Model, as `i2i weights list` names it (horse2zebra, style_monet, "
                                         "edges2shoes, cyclegan/sat2map, …)."),
    out: Path | None = typer.Option(None, help="Where to save the .pth (default: the cache, "
                                               "$XDG_CACHE_HOME/i2i or ~/.cache/i2i, reused when present)."),
    import_to: Path | None = typer.Option(None, "--import-to", help="Also convert it into this i2i "
                                                                    "checkpoint (.safetensors), with the "
                                                                    "model's domain names."),
) -> None:
    """Download a released pix2pix/CycleGAN generator (.pth); --import-to converts it as well.

    Run again to resume a broken-off download. I2I_DOWNLOAD_BASE_URL replaces
    http://efrosgans.eecs.berkeley.edu (a mirror with the same paths)."""
    entry = catalog.pretrained(name)
    if import_to is not None and import_to.suffix.lower() != ".safetensors":
        # Checked before a download of up to 218 MB, not after.
        raise I2IError(f"--import-to must name a .safetensors file, got {import_to}")
    from i2i.hub.download import download_pretrained

    path = download_pretrained(name, out)
    typer.echo(f"{name}: {path}")
    if import_to is None:
        return
    from i2i.importers.dispatch import import_weights

    report = import_weights(path, import_to, source="junyanz", domains=entry.domains)
    _print_report(path, report)
