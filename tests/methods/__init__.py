"""Tests of i2i.methods (mirrors the package)."""
