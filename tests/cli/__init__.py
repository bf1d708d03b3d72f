"""Tests of the command line as a user runs it (i2i.cli)."""
