"""Tests of i2i.inference (mirrors the package)."""
