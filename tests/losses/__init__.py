"""Tests of i2i.losses (mirrors the package)."""
