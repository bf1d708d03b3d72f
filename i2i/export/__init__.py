"""Exported graphs: ONNX (`onnx.py`, one graph per direction, parity-checked) and int8 quantization
(`int8.py`). Imports `models`, `inference` and the shared modules; never a method, loss or trainer.
"""
