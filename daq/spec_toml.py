"""Job specs back to TOML: how a program (e.g. a trainer asking for resynthesis) writes a job
that ``jxdaq job submit`` and the API read.

Only the fields that differ from their defaults are written, so the file stays short and
reads like a hand-written one; ``load_spec`` of the text gives back an equal spec (a spec that
sets a field to ``None`` where the default is something else cannot be written: TOML has no
null, and leaving the field out would bring the default back). Strings are
TOML basic strings (JSON escapes are a subset TOML accepts, non-ASCII is kept as is), and a
list of tables is written one inline table per line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from daq.spec import JobSpec


def dump_spec(spec: JobSpec, comment: str = "") -> str:
    """TOML text of ``spec``, preceded by ``comment`` as ``#`` lines."""
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    return header + dumps(spec.model_dump(mode="json", exclude_defaults=True))


def dumps(data: Mapping[str, Any]) -> str:
    """A JSON-like mapping as a TOML document."""
    lines: list[str] = []
    _table(data, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(data: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    for key, value in data.items():
        if value is None:
            raise ValueError(f"{'.'.join((*path, key))} is None, which TOML cannot hold")
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    plain = {k: v for k, v in data.items() if k not in tables}
    if path and (plain or not tables):
        lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
    for key, value in plain.items():
        lines.append(f"{_key(key)} = {_array(value) if isinstance(value, list) else _value(value)}")
    for key, value in tables.items():
        _table(value, (*path, key), lines)


def _key(key: str) -> str:
    return (
        key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else _string(key)
    )


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML escapes DEL


def _array(values: list[Any]) -> str:
    """Short arrays on one line; arrays of tables one table per line."""
    if any(isinstance(v, Mapping) for v in values):
        return "[\n" + "".join(f"  {_value(v)},\n" for v in values) + "]"
    return _value(values)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML job specs hold finite numbers only, got {value}")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        raise ValueError("a list holds None, which TOML cannot hold")
    if isinstance(value, Mapping):
        if any(v is None for v in value.values()):
            raise ValueError(f"{value!r} holds None, which TOML cannot hold")
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")
