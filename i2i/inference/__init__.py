"""Running a trained generator: the deployed model (`deployed.py`), the torch and ONNX Runtime backends
(`onnx_backend.py` never imports torch), jobs and output naming, torchrun sharding, the streaming
pipeline, tiling, the style/class codes of MUNIT/FUNIT, and the Python API's `Translator`
(`translator.py`, behind `i2i.load`). Imports `nn`, `models`, the shared modules
and nothing that trains.
"""
