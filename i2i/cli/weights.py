"""`i2i weights import SOURCE FILE --out CHECKPOINT`: pretrained weights from other projects;
`i2i weights list` / `i2i weights download NAME`: the reference pix2pix/CycleGAN release."""

from __future__ import annotations

from pathlib import Path

import typer

from i2i.errors import I2IError
from i2i.hub import catalog

app = typer.Typer(help="Download and import official pretrained weights as i2i checkpoints.",
                  no_args_is_help=True)


@app.command("import")
def import_(
    source: str = typer.Argument(..., help="Where the file comes from: junyanz "
                                           "(junyanz/pytorch-CycleGAN-and-pix2pix latest_net_G*.pth), "
                                           "munit (NVlabs/MUNIT gen_*.pt) or funit (NVlabs/FUNIT gen_*.pt)."),
    file: Path = typer.Argument(..., help="The source's generator file, e.g. latest_net_G.pth or "
                                          "gen_00200000.pt."),
    out: Path = typer.Option(..., help="The .safetensors checkpoint to write."),
    domains: tuple[str, str] = typer.Option(("A", "B"), help="Names of the source and target domains "
                                                             "(munit: the file's a and b; not funit)."),
) -> None:
    """Convert a pretrained generator into an i2i checkpoint for translate, export and eval."""
    from i2i.importers.dispatch import import_weights

    report = import_weights(source, file, out, domains=domains)
    typer.echo(f"imported {file} → {report.path} ({report.method}, {report.architecture}, "
               f"{report.parameters:,} parameters, {report.direction})")


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

    report = import_weights("junyanz", path, import_to, domains=entry.domains)
    typer.echo(f"imported {path} → {report.path} ({report.method}, {report.architecture}, "
               f"{report.parameters:,} parameters, {report.direction})")
