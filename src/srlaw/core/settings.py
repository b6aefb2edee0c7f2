"""Typed settings: a dataclass field carries its rule, and one checker refuses any value that breaks it.

Every settings file srlaw reads (``params.yaml``, a recipe, a study's params) is parsed **once** into typed
dataclasses; an unknown key or an invalid value is refused before anything reads data or touches a file, with one
line that names the file, the key, the value and what was expected::

    params.yaml: train.lr = -1: expected a number > 0

The sections themselves live beside what they configure (``data.settings``, ``train.settings``, ``law.settings``,
``pipeline.params``).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, field, fields
from pathlib import Path

from srlaw.core.errors import ParamsError

MAX_SETTINGS_BYTES = 2**20  # params.yaml is a few KiB

def spec(default=MISSING, *, expect: str, ok=None, factory=MISSING, nested=None):
    """A dataclass field with its rule: ``expect`` says it in words, ``ok(value)`` checks it (after the type).

    ``nested``: the field is a section of its own, parsed and checked as that dataclass.
    """
    return field(default=default, default_factory=factory, metadata={"expect": expect, "ok": ok, "nested": nested})


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TYPES = {
    "int": is_int,
    "float": is_number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list[int]": lambda v: isinstance(v, list) and len(v) > 0 and all(is_int(x) for x in v),
    "list[str]": lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v),
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                                            for k, x in v.items()),
}


def _type_ok(value, annotation: str) -> bool:
    return any(value is None if alt == "None" else _TYPES.get(alt, lambda v: True)(value)
               for alt in (a.strip() for a in annotation.split("|")))


def check(obj, where: str = "", path: str = "") -> None:
    """Type- and range-check every field of a config dataclass in place (ints given for floats become floats)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        expect, ok = f.metadata.get("expect"), f.metadata.get("ok")
        if expect is None:
            continue
        if f.metadata.get("nested") is not None:
            if not isinstance(value, f.metadata["nested"]):
                raise ParamsError(where_of(path, f"{where}.{f.name}" if where else f.name) + f" = {value!r}: "
                                  f"expected {expect}")
            check(value, f"{where}.{f.name}" if where else f.name, path)
            continue
        if not _type_ok(value, str(f.type)) or (ok is not None and value is not None and not ok(value)):
            raise ParamsError(where_of(path, f"{where}.{f.name}" if where else f.name) + f" = {value!r}: expected {expect}")
        if str(f.type).startswith("float") and is_int(value):
            setattr(obj, f.name, float(value))


def where_of(path: str, key: str) -> str:
    return f"{path}: {key}" if path else key


def parse(cls, raw, where: str, path: str):
    """``cls(**raw)`` after refusing unknown and missing keys; then :func:`check`."""
    raw = dict(mapping(raw, where, path, keys=[f.name for f in fields(cls) if f.init]))
    for f in fields(cls):
        if f.init and f.name not in raw and f.default is MISSING and f.default_factory is MISSING:
            raise ParamsError(where_of(path, f"{where}.{f.name}" if where else f.name)
                              + f": missing; expected {f.metadata.get('expect', 'a value')}")
        if f.metadata.get("nested") is not None and f.name in raw:
            raw[f.name] = parse(f.metadata["nested"], raw[f.name], f"{where}.{f.name}" if where else f.name, path)
    obj = cls(**raw)
    check(obj, where, path)
    return obj


def mapping(raw, where: str, path: str, keys=None) -> dict:
    """``raw`` as a mapping (None: empty); with ``keys``, any other key is refused by name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(where_of(path, where) + f" = {raw!r}: expected a mapping")
    unknown = [k for k in raw if keys is not None and k not in keys]
    if unknown:
        raise ParamsError(where_of(path, f"{where}.{unknown[0]}" if where else str(unknown[0]))
                          + f": unknown key; expected one of {', '.join(keys)}")
    return raw


def read_seed(raw: dict, path: str) -> int:
    seed = raw.get("seed", 0)
    if not is_int(seed) or seed < 0:
        raise ParamsError(f"{path}: seed = {seed!r}: expected an integer >= 0")
    return seed


def read_yaml(path) -> dict:
    import yaml
    path = Path(path)
    if path.exists() and not path.is_file():  # a pipe or a device would hang or never end
        raise ParamsError(f"{path}: not a regular file (a folder, pipe or device); give a params file")
    if path.is_file() and path.stat().st_size > MAX_SETTINGS_BYTES:
        raise ParamsError(f"{path}: {path.stat().st_size:,} bytes; a params file is at most {MAX_SETTINGS_BYTES:,}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(doc, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return doc
