"""Tests of i2i.data (mirrors the package)."""
