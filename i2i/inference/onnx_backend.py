"""An exported graph in ONNX Runtime, as a `Backend`. Needs numpy + onnxruntime only: never imports torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from i2i.errors import I2IError
from i2i.inference.backend import Backend, needs_code
from i2i.preprocess import Preprocess

# Execution providers by preference: GPU/NPU ones first (CPU last), CUDA-capable ones for --device cuda.
ONNX_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                  "CoreMLExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider")


_CUDA_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def onnx_providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers to ask for, best first, among those installed. `cpu` is the CPU
    alone; `cuda` needs TensorRT or CUDA (onnxruntime-gpu) and fails loudly without them."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        cuda = [p for p in _CUDA_PROVIDERS if p in available]
        if not cuda:
            raise I2IError(f"--device {device} with --backend onnx needs onnxruntime-gpu (the CUDA execution "
                           f"provider); installed: {', '.join(available)}")
        return cuda + ["CPUExecutionProvider"]
    return [p for p in ONNX_PROVIDERS if p in available] or available


def _onnx_session(path: Path, device: str, local_rank: int) -> Any:
    import onnxruntime

    gpu = int(device.split(":")[1]) if device.startswith("cuda:") else local_rank
    providers = [(p, {"device_id": gpu}) if p in _CUDA_PROVIDERS else p for p in onnx_providers(device)]
    options = onnxruntime.SessionOptions()
    # The memory-pattern planner keeps one arena per input shape it has seen and over-allocates for a
    # tile window (measured: +940 MiB vs +418 MiB for one 544² ResNet-9 window, at the same speed).
    options.enable_mem_pattern = False
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise I2IError(f"{path}: onnxruntime cannot load it ({str(error).splitlines()[0]})") from None
    if device.startswith("cuda") and session.get_providers()[0] not in _CUDA_PROVIDERS:
        # onnxruntime falls back to the CPU with only a warning when CUDA fails to start
        raise I2IError(f"--device {device}: onnxruntime could not start CUDA for {path} (see its warning above)")
    return session


def onnx_backend(model: str | Path, to: str | None = None, device: str = "auto", local_rank: int = 0) -> Backend:
    path = Path(model)
    if not path.is_file():
        raise I2IError(f"model {path} does not exist")
    session = _onnx_session(path, device, local_rank)
    metadata = session.get_modelmeta().custom_metadata_map
    if "i2i" not in metadata:
        raise I2IError(f"{path}: ONNX file without i2i metadata (export it with `i2i export`)")
    header = json.loads(metadata["i2i"])
    direction = metadata.get("i2i.direction", "")
    if to is not None and direction.split("->")[-1] != to:
        raise I2IError(f"{path} translates {direction}, not into {to!r} (export another direction with --to)")
    input_name = session.get_inputs()[0].name
    preprocess = Preprocess.from_dict(header["preprocess"])
    description = f"onnxruntime ({session.get_providers()[0]}) {path}"
    if "i2i.code_encoder" in metadata:  # MUNIT/FUNIT: a code input, and the encoder graph beside the file
        encoder_path = path.parent / metadata["i2i.code_encoder"]
        if not encoder_path.is_file():
            raise I2IError(f"{path} needs its code encoder {encoder_path} (written beside it by `i2i export`)")
        encoder = _onnx_session(encoder_path, device, local_rank)
        code_name = session.get_inputs()[1].name
        encoder_input = encoder.get_inputs()[0].name

        def run_with_code(batch: np.ndarray, codes: np.ndarray) -> np.ndarray:
            return session.run(None, {input_name: batch, code_name: codes})[0]

        def encode(images: np.ndarray) -> np.ndarray:
            # FUNIT's graph averages its K images into one code; call it per image so that both
            # encoders give one code per image here (the K-shot mean is taken by the caller).
            return np.concatenate([encoder.run(None, {encoder_input: image[None]})[0] for image in images])

        return Backend(needs_code, preprocess, direction, description, header, run_with_code, encode)

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    return Backend(run, preprocess, direction, description, header)
