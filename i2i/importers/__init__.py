"""Other projects' checkpoints → i2i checkpoints: `dispatch.py` detects a file's source from its keys
and calls one file per source (`junyanz.py`: pix2pix/CycleGAN; `nvlabs.py`: MUNIT/FUNIT). Weights only,
never a pickle. Imports `models`, the shared modules and nothing that trains.
"""
