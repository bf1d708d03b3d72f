"""A regular package, not a namespace one: torch-fidelity 0.4.0 installs a top-level `tests` package
into site-packages, which would otherwise shadow this folder in `from tests.conftest import ...`."""
