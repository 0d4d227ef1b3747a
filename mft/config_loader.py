"""Typed loading of nested dataclasses from JSON-like dicts, with fix-it errors.

`build(cls, raw, where="")` checks every key and value against the dataclass fields and their
type hints and returns an instance; a user's mistake raises `ConfigError` with one line naming
the dotted key and what to do ("training.lrr is not a valid key; did you mean 'training.lr'?").
`apply_override(raw, "a.b=c")` implements the command line's `--set a.b=c`.

Supported annotations: str, int, float, bool, dict, Any, X | None, int | str, list[X] and nested
dataclasses (also inside lists). A field's `metadata["choices"]` restricts its values, checked
with `data_pipeline.choices`, the same message as a data config built in code.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any

from data_pipeline.choices import choice_error, did_you_mean


class ConfigError(ValueError):
    """A configuration mistake; the message names the key and the fix."""


closest = did_you_mean  # the key hint; mft modules import it from here


def build(cls: type, raw: Any, where: str = "") -> Any:
    """Instantiate dataclass `cls` from the dict `raw`; `where` is the dotted prefix for errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'}: must be a JSON object, got {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(
                f"{_join(where, _printable(key))}: not a valid key{closest(key, fields, where)} (valid keys: {valid})")
    values = {}
    for name, f in fields.items():
        key = _join(where, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: required; add it to the config")
            continue
        value = _convert(hints[name], raw[name], key)
        message = choice_error(key, value, f.metadata["choices"]) if "choices" in f.metadata else None
        if message:
            raise ConfigError(message)
        values[name] = value
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:  # a __post_init__ check; it may name the key already
        message = str(exc)
        if not where or not message.startswith(where.split(".")[0]):
            message = f"{where or 'config'}: {message}"
        raise ConfigError(message) from None


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:  # X | None: X's own message names the nested key
            raise errors[0]
        names = " or ".join(_name(o) for o in options)
        raise ConfigError(f"{key}: must be {names}, got {_kind(value)} {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(choice_error(key, value, allowed))
        return value
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if isinstance(value, str) and item is str:
            value = [value]  # a single file may be given as a string
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list, got {_kind(value)}")
        return [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: must be an object, got {_kind(value)}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: must be an integer, got {_kind(value)} {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {_kind(value)} {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {_kind(value)} {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {hint!r} at {key}")


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `--set a.b.c=value` to the raw dict in place.

    The value is parsed as JSON when it parses (numbers, true/false, lists, objects) and taken
    as a plain string otherwise. Numeric path parts index lists: `data.tasks.0.name=x`, or
    `data.tasks[0].name=x`, the form error messages print.
    """
    if "=" not in assignment:
        raise ConfigError(f"--set: must look like section.key=value, got {assignment!r}")
    path, text = assignment.split("=", 1)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    parts = path.strip().split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        prefix = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = node[_index(part, node, prefix)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {path}: {prefix} is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[_index(last, node, path)] = value
    else:
        node[last] = value


def _index(part: str, node: list, where: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {where}: must be an index below {len(node)}, got {part!r}")
    return int(part)


def _printable(key: str) -> str:
    return key if key.isprintable() else repr(key)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def _name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))
