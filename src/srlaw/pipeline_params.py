"""Reading ``params.yaml``: one loader, errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import yaml


class ParamsError(ValueError):
    """A missing or malformed field in params.yaml."""


def load_params(path="params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    params["_path"] = str(path)
    return params


def field(params: dict, dotted: str, default=...):
    """``params['a']['b']`` for ``'a.b'``; a missing field without default names the file and the field."""
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise ParamsError(f"{params.get('_path', 'params.yaml')}: missing field {dotted!r}")
        node = node[part]
    return node
