"""Tests of i2i.train (mirrors the package)."""
