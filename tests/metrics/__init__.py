"""Tests of i2i.metrics (mirrors the package)."""
