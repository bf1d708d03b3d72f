"""Running a trained generator: the deployed model (`deployed.py`), the torch and ONNX Runtime backends
(`onnx_backend.py` never imports torch), jobs and output naming, torchrun sharding, the streaming
pipeline, tiling, and the style/class codes of MUNIT/FUNIT. Imports `nn`, `models`, the shared modules
and nothing that trains.
"""
