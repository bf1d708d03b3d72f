"""Recipes as typed dataclasses: defaults in code → TOML preset → CLI flags → `--set key=value`.

Every override is checked against the dataclass field it targets: unknown keys and values of the
wrong type fail at once with the dotted key in the message.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from i2i.errors import I2IError

T = TypeVar("T")

# Keys that moved: the old spelling gets a message naming the new one.
RENAMED = {"gan_objective": "gan.objective"}


def to_dict(recipe: Any) -> dict[str, Any]:
    return dataclasses.asdict(recipe)


def to_json(recipe: Any) -> str:
    return json.dumps(to_dict(recipe), indent=2, sort_keys=False)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert `value` (from TOML, JSON or a `--set` string) to `annotation`, or raise I2IError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, args, key)
    if annotation in (bool, int, float, str):
        return _coerce_scalar(value, annotation, key)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise I2IError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [v if item_type is Any else _coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise I2IError(f"{key}: expected a table of values, got {value!r}")
        value_type = args[1] if len(args) == 2 else Any
        return {k: v if value_type is Any else _coerce(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise I2IError(f"{key}: expected a table of values, got {value!r}")
        return from_dict(annotation, value, prefix=f"{key}.")
    raise I2IError(f"{key}: unsupported field type {annotation!r}")


def _coerce_union(value: Any, options: tuple[Any, ...], key: str) -> Any:
    """`X | None` and other unions: None (or the string none/null) where allowed, else the first option
    that accepts the value; the first option's error otherwise."""
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if type(None) in options:
            return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _coerce(value, option, key)
        except I2IError as error:
            errors.append(str(error))
    raise I2IError(errors[0] if errors else f"{key}: cannot be {value!r}")


def _coerce_scalar(value: Any, annotation: type, key: str) -> Any:
    """bool, int, float or str: the value itself, or parsed from a string (a bool is never a number)."""
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise I2IError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise I2IError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise I2IError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, str):
        return value
    raise I2IError(f"{key}: expected a string, got {value!r}")


def from_dict(cls: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict, starting from its defaults; strict on keys and types."""
    return override(cls(), values, prefix)


def override(recipe: T, values: dict[str, Any], prefix: str = "") -> T:
    """A copy of `recipe` with the nested `values` applied (a nested dataclass merges field by field)."""
    hints = _field_types(type(recipe))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in hints and name in RENAMED:
            raise I2IError(f"recipe key {key!r} is now {prefix}{RENAMED[name]} (e.g. --set {prefix}{RENAMED[name]}=lsgan)")
        if name not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(recipe))
            raise I2IError(f"unknown recipe key {key!r}; known keys here: {known}")
        current = getattr(recipe, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = override(current, value, prefix=f"{key}.")
        elif isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            merged.update(_coerce(value, hints[name], key))
            changes[name] = merged
        else:
            changes[name] = _coerce(value, hints[name], key)
    return dataclasses.replace(recipe, **changes)


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} → {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise I2IError(f"recipe key {key!r} conflicts with another --set")
        node[leaf] = value
    return nested


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`["optimizer.lr_g=1e-4", ...]` → nested dict of strings (converted later by field type)."""
    dotted = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise I2IError(f"--set expects key=value, got {item!r}")
        dotted[key.strip()] = value.strip()
    return nest(dotted)


def load_preset(path: str | Path) -> dict[str, Any]:
    """Read a TOML preset: a small table of overrides plus `method = "..."`."""
    path = Path(path)
    if not path.is_file():
        raise I2IError(f"recipe file {path} does not exist")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise I2IError(f"{path}: not valid TOML ({error})") from None
