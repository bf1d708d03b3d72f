"""Tests of i2i.models (mirrors the package)."""
