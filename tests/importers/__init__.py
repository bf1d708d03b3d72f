"""Tests of i2i.importers (mirrors the package)."""
