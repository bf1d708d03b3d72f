"""Tests of i2i.hub (mirrors the package)."""
