"""Tests of i2i.nn (mirrors the package)."""
