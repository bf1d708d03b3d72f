"""Converters from other projects' checkpoint layouts to i2i networks (weights only, never pickles)."""
