"""Tests of i2i.export (mirrors the package)."""
