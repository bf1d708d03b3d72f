"""Training procedures, one file per paper: a Recipe (the paper's defaults) and a Method (its networks
and named losses). May import `nn`, `models`, `losses`, `data`, `inference` and the shared modules.

`REGISTRY` is the one list of methods: a new method is its file here, its networks in `models/`, a
recipe, a test and one line below. It is read without importing torch (`i2i train --help` lists it,
and `i2i translate model.onnx` must not need torch); the classes are imported when first used, as
`METHODS[name]` or `from i2i.methods import Pix2Pix`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from i2i.methods.base import Method

# name → (module, class, what it trains on)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "pix2pix": ("i2i.methods.pix2pix", "Pix2Pix", "paired A→B images"),
    "cyclegan": ("i2i.methods.cyclegan", "CycleGAN", "two unpaired domains"),
    "srgan": ("i2i.methods.srgan", "SRGAN", "super-resolution from a folder of HR images"),
    "munit": ("i2i.methods.munit", "MUNIT", "two unpaired domains, many outputs per input"),
    "funit": ("i2i.methods.funit", "FUNIT", "few-shot: one folder per class"),
}


def method_class(name: str) -> type[Method]:
    """The Method class registered as `name` (KeyError for other names)."""
    module, cls, _ = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def describe_methods() -> str:
    """One line of help: each registered method and what it trains on."""
    return "; ".join(f"{name} ({summary})" for name, (_, _, summary) in REGISTRY.items())


def __getattr__(name: str) -> Any:
    """METHODS, Method, Recipe and each registered class and its Recipe, imported on first use."""
    if name == "METHODS":
        return {key: method_class(key) for key in REGISTRY}
    if name in ("Method", "Recipe"):
        return getattr(importlib.import_module("i2i.methods.base"), name)
    for module, cls, _ in REGISTRY.values():
        if name in (cls, f"{cls}Recipe"):
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'i2i.methods' has no attribute {name!r}")


__all__ = ["METHODS", "REGISTRY", "Method", "Recipe", "describe_methods", "method_class",
           *(cls for _, cls, _ in REGISTRY.values()), *(f"{cls}Recipe" for _, cls, _ in REGISTRY.values())]
