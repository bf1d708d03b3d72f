"""Tests of the deployment examples (examples/python, examples/web)."""
