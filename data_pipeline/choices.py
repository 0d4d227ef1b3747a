"""The one way a setting is restricted to a few values, and the one message when it is not.

A dataclass field declares its values in its metadata, ``field(default="padding",
metadata={"choices": MODES})``. `mft.config_loader` checks such fields while it loads a run
config, and `check_choices` checks a dataclass built in code; both say, in one line,

    data.mode: 'packed' is not one of padding, pack; did you mean 'pack'?

`did_you_mean` gives the same hint for mistyped keys and names.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Iterable


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """"; did you mean 'prefix.x'?" for the option closest to `name`, or '' when none is close."""
    match = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.5)
    if not match:
        return ""
    return f"; did you mean '{prefix}.{match[0]}'?" if prefix else f"; did you mean '{match[0]}'?"


def choice_error(key: str, value: Any, choices: Iterable[Any]) -> str | None:
    """The one-line message when `value` is not among `choices`, else None."""
    choices = tuple(choices)
    if value in choices:
        return None
    return f"{key}: {value!r} is not one of {', '.join(map(str, choices))}{did_you_mean(str(value), choices)}"


def check_choices(instance: Any, prefix: str, error: type[Exception] = ValueError) -> None:
    """Raise `error` for the first field of dataclass `instance` whose value is not among its
    ``metadata["choices"]``; `prefix` is the section's dotted name (``data``)."""
    for f in dataclasses.fields(instance):
        choices = f.metadata.get("choices")
        if choices is None:
            continue
        message = choice_error(f"{prefix}.{f.name}", getattr(instance, f.name), choices)
        if message:
            raise error(message)
