"""The tree tells the architecture: few flat modules, small files and functions, one-way imports.

These are the rules of `../shared/DESIGN.md` checked on the source itself, so that a change that breaks
one fails here with the file and line to look at.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "i2i"
TESTS = Path(__file__).resolve().parent
SHARED = {"errors", "files", "config", "preprocess", "images", "checkpoint", "runtime", "memory"}
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

# What each subpackage may import from i2i (besides itself and the shared modules). Every import
# counts, also the lazy ones inside functions: "may import" is about dependency, not load time.
ALLOWED = {
    "nn": set(),
    "models": {"nn"},
    "data": set(),
    "hub": set(),
    "inference": {"nn", "models"},
    "export": {"nn", "models", "inference", "metrics"},  # metrics: int8 reports its PSNR (numpy maths)
    "importers": {"nn", "models", "inference", "hub"},
    "losses": {"nn", "models", "hub", "data"},
    "metrics": {"nn", "models", "inference", "hub", "data"},
    "methods": {"nn", "models", "losses", "data", "inference", "hub"},
    "train": {"nn", "models", "losses", "data", "inference", "methods", "metrics", "hub"},
}
# The shared modules may import each other and these (checkpoint builds networks from models).
SHARED_ALLOWED = {"nn", "models"}


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def i2i_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level i2i name) of every i2i import in `path`, module level or not."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "i2i":
                names = [parts[1]] if len(parts) > 1 else [alias.name for alias in node.names]
                found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[1]) for alias in node.names
                      if alias.name.startswith("i2i.")]
    return found


def test_at_most_eight_flat_modules_and_each_is_a_shared_one():
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert len(flat) <= 8 and flat <= SHARED, sorted(flat)


def test_no_file_over_400_lines_and_no_function_over_60():
    long_files = [f"{p.relative_to(PACKAGE)}: {n}" for p in sources()
                  if (n := p.read_text().count("\n")) > MAX_FILE_LINES]
    long_functions = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert not long_files and not long_functions, long_files + long_functions


def test_imports_go_one_way():
    wrong = []
    for path in sources():
        relative = path.relative_to(PACKAGE)
        if relative.name == "__main__.py":  # `python -m i2i` is the command line
            continue
        if relative.name == "__init__.py" and len(relative.parts) == 1:  # i2i.load: the Python API's front door
            owner, allowed = "i2i", SHARED | SHARED_ALLOWED | {"__version__", "inference"}
        elif len(relative.parts) == 1:
            owner, allowed = relative.stem, SHARED | SHARED_ALLOWED | {"__version__"}
        else:
            owner = relative.parts[0]
            if owner == "cli":  # the command line may use everything
                continue
            allowed = SHARED | ALLOWED[owner] | {owner}
        wrong += [f"{relative}:{line} imports i2i.{name}" for line, name in i2i_imports(path) if name not in allowed]
    assert not wrong, wrong


def test_every_subpackage_says_what_it_holds():
    undocumented = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("__init__.py")
                    if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert not undocumented, undocumented


def test_the_onnx_path_never_imports_torch():
    """`i2i translate model.onnx` must run where torch cannot be imported."""
    modules = ["i2i.cli.translate", "i2i.inference.onnx_backend", "i2i.inference.pipeline", "i2i.inference.variants",
               "i2i.inference.backend", "i2i.inference.jobs", "i2i.inference.shard", "i2i.inference.tiling",
               "i2i.inference.translator", "i2i.inference.video", "i2i.inference.video_io", "i2i.inference.temporal",
               "i2i.metrics.pixel", "i2i.runtime"]
    code = "import sys; sys.modules['torch'] = None\n" + "\n".join(f"import {m}" for m in modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("folder", sorted(p.name for p in TESTS.iterdir() if (p / "__init__.py").is_file()))
def test_tests_mirror_the_package(folder):
    """tests/<subpackage>/ exists for a subpackage of i2i (examples/ and benchmarks/ test the repository's
    folders of those names)."""
    assert folder in ("examples", "benchmarks") or (PACKAGE / folder / "__init__.py").is_file(), folder
