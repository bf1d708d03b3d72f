"""`i2i export MODEL --out FILE.onnx [--precision fp32|fp16] [--quantize int8 --calibration DIR]` and
`i2i export MODEL --format ncnn --out DIR [--name NAME]`."""

from __future__ import annotations

from pathlib import Path

import typer

from i2i.cli import app
from i2i.errors import I2IError

FORMATS = ("onnx", "ncnn")
PRECISIONS = ("fp32", "fp16")


def _check_options(format_: str, precision: str | None, quantize: str | None, opset: int | None,
                   name: str | None, calibration: str | None) -> None:
    """Combinations that cannot mean anything fail here, in one line, before any work starts."""
    if format_ not in FORMATS:
        raise I2IError(f"--format must be one of {', '.join(FORMATS)}, got {format_!r}")
    if precision is not None and precision not in PRECISIONS:
        raise I2IError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if format_ == "ncnn" and quantize is not None:
        raise I2IError(f"--quantize {quantize} is for ONNX; --format ncnn writes float16 weights (ncnn's "
                       f"default) or, with --precision fp32, float32 ones")
    if format_ == "ncnn" and opset is not None:
        raise I2IError("--opset is for ONNX; --format ncnn converts a TorchScript trace with pnnx")
    if format_ == "onnx" and name is not None:
        raise I2IError("--name is for --format ncnn (NAME.param, NAME.bin); an ONNX file is named by --out")
    if precision == "fp16" and quantize is not None:
        raise I2IError(f"--precision fp16 and --quantize {quantize} both convert the float32 graph: "
                       f"choose one")
    fp16_onnx = format_ == "onnx" and precision == "fp16"
    if calibration is not None and quantize is None and not fp16_onnx and format_ != "ncnn":
        raise I2IError("--calibration is for --quantize int8 (its calibration images) and for --precision "
                       "fp16 and --format ncnn (the photos their parity is checked on)")


@app.command()
def export(
    model: str = typer.Argument(..., help="Run directory or .safetensors checkpoint."),
    out: Path = typer.Option(..., help="The .onnx file to write (--format ncnn: the folder to write "
                                       "into)."),
    to: str | None = typer.Option(None, help="Target domain of the direction to export (default: the "
                                             "first)."),
    opset: int | None = typer.Option(None, help="ONNX opset version (default 18)."),
    precision: str | None = typer.Option(None, help="fp32 or fp16. ONNX: fp16 writes a float16 graph "
                                                    "(float32 inputs and outputs), checked against the "
                                                    "float32 graph (PSNR ≥ 60 dB on photos); default fp32. "
                                                    "NCNN: the weights in NAME.bin; default fp16, ncnn's."),
    format_: str = typer.Option("onnx", "--format", help="onnx: one .onnx file (+ the MUNIT/FUNIT "
                                                         "encoder beside it); ncnn: NAME.param + NAME.bin "
                                                         "+ NAME.json in the --out folder (docs/ncnn.md)."),
    name: str | None = typer.Option(None, help="--format ncnn: the file stem NAME (default: the model's "
                                               "name, with the target domain and, for SR, the scale)."),
    quantize: str | None = typer.Option(None, help="int8: also write OUT.int8.onnx (static int8 "
                                                   "quantization, calibrated on --calibration) and print "
                                                   "its PSNR against the float32 file."),
    calibration: str | None = typer.Option(None, help="Images (a folder, searched recursively, a file or "
                                                      "a glob) to calibrate --quantize int8 on, or to check "
                                                      "--precision fp16 and --format ncnn on (default for "
                                                      "those two: scikit-image's bundled photos)."),
) -> None:
    """Export one direction to ONNX (RGB in [0, 1] in and out), checked against PyTorch. MUNIT/FUNIT
    models get a style/class code input and their encoder as a second file, OUT.style_encoder.onnx or
    OUT.class_encoder.onnx. With --quantize int8, an int8 copy OUT.int8.onnx as well; with --precision
    fp16, a float16 graph instead; with --format ncnn, NCNN files for ncnn apps."""
    _check_options(format_, precision, quantize, opset, name, calibration)
    if format_ == "ncnn":
        _export_ncnn(model, out, to, name, precision or "fp16", calibration)
    elif precision == "fp16":
        _export_fp16(model, out, to, opset if opset is not None else 18, calibration)
    else:
        _export_fp32(model, out, to, opset if opset is not None else 18, quantize, calibration)


def _sizes(parity: list[tuple[tuple, float]]) -> str:
    return ", ".join(f"{'×'.join(map(str, shape))}: {diff:.1e}" for shape, diff in parity)


def _export_fp32(model: str, out: Path, to: str | None, opset: int, quantize: str | None,
                 calibration: str | None) -> None:
    from i2i.export.onnx import export_onnx

    report = export_onnx(model, out, to=to, opset=opset, quantize=quantize, calibration=calibration)
    companion = f" + {report.code_encoder}" if report.code_encoder is not None else ""
    typer.echo(f"exported {report.direction} → {report.path}{companion} (onnxruntime vs torch max "
               f"|diff| {_sizes(report.parity)}; tolerance {report.tolerance:g})")
    if report.quantized is not None:
        typer.echo(f"int8 → {report.quantized.path}: {report.quantized.describe()}")


def _export_fp16(model: str, out: Path, to: str | None, opset: int, calibration: str | None) -> None:
    from i2i.export.fp16 import export_fp16

    report = export_fp16(model, out, to=to, opset=opset, photos=calibration)
    companion = f" + {report.code_encoder}" if report.code_encoder is not None else ""
    typer.echo(f"exported {report.direction} → {report.path}{companion} in fp16 (the float32 graph: "
               f"onnxruntime vs torch max |diff| {_sizes(report.fp32_parity)}). fp16 vs float32 on "
               f"{', '.join(p.name for p in report.photos)} (≥ {report.min_psnr:g} dB required):")
    typer.echo(f"  {report.describe()}")


def _export_ncnn(model: str, out: Path, to: str | None, name: str | None, precision: str,
                 calibration: str | None) -> None:
    from i2i.export.ncnn import export_ncnn

    report = export_ncnn(model, out, to=to, name=name, precision=precision, photos=calibration)
    typer.echo(f"exported {report.direction} → {report.directory}/ as {report.name} ({precision} "
               f"weights; i2i metadata in {report.sidecar.name}; tolerance {report.tolerance:.2g} on "
               f"[0, 1]):")
    typer.echo(report.describe())
