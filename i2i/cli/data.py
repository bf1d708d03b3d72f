"""`i2i data demo NAME DIR`: make a built-in data set."""

from __future__ import annotations

from pathlib import Path

import typer

from i2i.errors import I2IError

app = typer.Typer(help="Built-in demo data sets.", no_args_is_help=True)

DEMOS = ("shapes",)


@app.command()
def demo(
    name: str = typer.Argument(..., help=f"Which demo set: {', '.join(DEMOS)}."),
    directory: Path = typer.Argument(..., help="Folder to write it into (created if missing)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same files."),
    num_train: int = typer.Option(400, help="Training pairs."),
    num_test: int = typer.Option(50, help="Held-out test pairs."),
    size: int = typer.Option(64, help="Image side in pixels."),
) -> None:
    """Write a built-in data set. `shapes`: paired outline drawings (A) → coloured, shaded shapes (B)."""
    if name not in DEMOS:
        raise I2IError(f"unknown demo data set {name!r}; choose one of: {', '.join(DEMOS)}")
    from i2i.data.demo_shapes import make_shapes

    try:
        counts = make_shapes(directory, seed=seed, num_train=num_train, num_test=num_test, size=size)
    except ValueError as error:
        raise I2IError(str(error)) from None
    typer.echo(f"wrote {name} to {directory}: " + ", ".join(f"{split} {n} pairs" for split, n in counts.items()))
