"""Exported graphs: ONNX (`onnx.py`, one graph per direction, parity-checked; `conditioned.py` for
MUNIT/FUNIT's generator + encoder), rewritten into ops every runtime runs (`portable.py`), int8
quantization (`int8.py`), float16 graphs (`fp16.py`) and NCNN files through pnnx (`ncnn.py`). Imports
`models`, `inference`, `metrics` and the shared modules; never a method, loss or trainer.
"""
