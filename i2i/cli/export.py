"""`i2i export MODEL --out FILE.onnx [--quantize int8 --calibration DIR]`."""

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
    quantize: str | None = typer.Option(None, help="int8: also write OUT.int8.onnx (static int8 quantization, "
                                                   "calibrated on --calibration) and print its PSNR against "
                                                   "the float32 file."),
    calibration: str | None = typer.Option(None, help="Images to calibrate --quantize int8 on (a folder, "
                                                      "searched recursively, a file or a glob): a few images "
                                                      "like those you will translate, prepared as translate "
                                                      "prepares them."),
) -> None:
    """Export one direction to ONNX (RGB in [0, 1] in and out), checked against PyTorch. MUNIT/FUNIT
    models get a style/class code input and their encoder as a second file, OUT.style_encoder.onnx or
    OUT.class_encoder.onnx. With --quantize int8, an int8 copy OUT.int8.onnx as well."""
    from i2i.export.onnx import export_onnx

    report = export_onnx(model, out, to=to, opset=opset, quantize=quantize, calibration=calibration)
    sizes = ", ".join(f"{'×'.join(map(str, shape))}: {diff:.1e}" for shape, diff in report.parity)
    companion = f" + {report.code_encoder}" if report.code_encoder is not None else ""
    typer.echo(f"exported {report.direction} → {report.path}{companion} (onnxruntime vs torch max |diff| {sizes}; "
               f"tolerance {report.tolerance:g})")
    if report.quantized is not None:
        typer.echo(f"int8 → {report.quantized.path}: {report.quantized.describe()}")
