"""`i2i weights import SOURCE FILE --out CHECKPOINT`: pretrained weights from other projects."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Import official pretrained weights as i2i checkpoints.", no_args_is_help=True)


@app.command("import")
def import_(
    source: str = typer.Argument(..., help="Where the file comes from: junyanz "
                                           "(junyanz/pytorch-CycleGAN-and-pix2pix)."),
    file: Path = typer.Argument(..., help="The source's generator file, e.g. latest_net_G.pth."),
    out: Path = typer.Option(..., help="The .safetensors checkpoint to write."),
    domains: tuple[str, str] = typer.Option(("A", "B"), help="Names of the source and target domains."),
) -> None:
    """Convert a pretrained generator into an i2i checkpoint for translate, export and eval."""
    from i2i.weights_import import import_weights

    report = import_weights(source, file, out, domains=domains)
    typer.echo(f"imported {file} → {report.path} ({report.method}, {report.architecture}, "
               f"{report.parameters:,} parameters, {report.direction})")
