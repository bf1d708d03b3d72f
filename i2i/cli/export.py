"""`i2i export MODEL --out FILE.onnx`."""

from __future__ import annotations

from pathlib import Path

import typer

from i2i.cli import app


@app.command()
def export(
    model: str = typer.Argument(..., help="Run directory or .safetensors checkpoint."),
    out: Path = typer.Option(..., help="The .onnx file to write."),
    to: str | None = typer.Option(None, help="Target domain of the direction to export (default: the first)."),
    opset: int = typer.Option(18, help="ONNX opset version."),
) -> None:
    """Export one direction to ONNX (RGB in [0, 1] in and out), checked against PyTorch. MUNIT/FUNIT
    models get a style/class code input and their encoder as a second file, OUT.style_encoder.onnx or
    OUT.class_encoder.onnx."""
    from i2i.export import export_onnx

    report = export_onnx(model, out, to=to, opset=opset)
    sizes = ", ".join(f"{'×'.join(map(str, shape))}: {diff:.1e}" for shape, diff in report.parity)
    companion = f" + {report.code_encoder}" if report.code_encoder is not None else ""
    typer.echo(f"exported {report.direction} → {report.path}{companion} (onnxruntime vs torch max |diff| {sizes}; "
               f"tolerance {report.tolerance:g})")
