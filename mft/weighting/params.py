"""A method's parameters as the config gives them (``weighting.params``), and the run context the
trainer supplies beside them.

Two sources, never mixed:

- ``Params``, a frozen dataclass per method, is what a user sets. It is parsed when the run
  config loads (``parse_params``: names, types and choices by the config loader, ranges in
  ``__post_init__``), so every mistake ends the run before any data is read.
- ``RunContext`` holds the facts only the trainer knows (the number of validation batches M and
  the controller steps per epoch). A user cannot set them (``weighting.params.steps_per_epoch``
  is refused at load); a parameter whose value refers to one ("auto", "epoch") is resolved
  against the context when the method is built, with ``RunContext.need``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Any

from ..config_loader import ConfigError, build, closest

PREFIX = "weighting.params"  # the config key every parameter message names


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Facts about the run that the trainer passes to every method when it builds it.

    ``num_valid_batches`` is M, the controller batches that see every task's validation split
    once (CoBa's "auto" window); ``steps_per_epoch`` counts CONTROLLER steps (update calls) per
    epoch, ceil(optimizer steps per epoch / update_interval) (a period of "epoch"). None where not
    known: a parameter that needs it then fails when the method is built."""

    num_valid_batches: int | None = None  # M, for CoBa's "auto" window and warm-up
    steps_per_epoch: int | None = None    # controller steps per epoch, for a period of "epoch"

    def need(self, name: str, key: str, value: Any) -> int:
        """The context field ``name``, which parameter ``key``'s ``value`` refers to; ValueError
        naming the parameter when the context does not hold it, or holds no integer >= 1. Checked
        here, when a method asks, so a fact no method of the run uses cannot stop it."""
        got = getattr(self, name)
        if got is None:
            raise ValueError(f"{PREFIX}.{key}: {value!r} needs the run's {name}, which the trainer sets "
                             f"(outside a run, pass context=RunContext({name}=...) or give a number), "
                             f"got {value!r}")
        if isinstance(got, bool) or not isinstance(got, int) or got < 1:
            raise ValueError(f"{PREFIX}.{key}: {value!r} means the run's {name}, which must be an integer "
                             f">= 1 (give {key} as a number), got {name}={got!r}")
        return got


RUN_CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(RunContext))


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a method that takes none."""


def parse_params(method: str, params_cls: type, raw: Any) -> Any:
    """``params_cls`` built from the dict ``raw`` with the config loader. A run-context name is
    refused (the trainer sets it); an unknown name, a wrong type, a value outside a field's
    choices or an invalid value is a ``ConfigError`` naming ``weighting.params.<key>`` and the
    method's parameters."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{PREFIX}: must be an object of {method}'s parameters, got {raw!r}")
    fields = [f.name for f in dataclasses.fields(params_cls)]
    valid = ", ".join(fields) if fields else "none"
    for key, value in raw.items():
        if key in RUN_CONTEXT_FIELDS:
            raise ConfigError(f"{PREFIX}.{key}: set by the trainer from the run, not a parameter; "
                              f"remove it, got {value!r}")
        if key not in fields:
            raise ConfigError(f"{PREFIX}.{key}: {method} has no parameter {key!r}{closest(key, fields)} "
                              f"({method} parameters: {valid})")
    plain = {key: list(value) if isinstance(value, tuple) else value for key, value in raw.items()}
    try:
        return build(params_cls, plain, where=PREFIX)
    except ConfigError as err:
        raise ConfigError(f"{err} ({method} parameters: {valid})") from None


def params_table(methods: dict[str, type]) -> str:
    """The Markdown table of every method's parameters (name, type, default, and what a value
    resolved from the run context means: field ``metadata["run_context"]``), from the ``Params``
    dataclasses, for docs/weighting.md (a test keeps the two equal). Values are JSON, as written
    in a config."""
    rows = ["| method | parameter | type | default | from the run context |", "|---|---|---|---|---|"]
    for name, params_cls in sorted(methods.items()):
        fields = dataclasses.fields(params_cls)
        if not fields:
            rows.append(f"| `{name}` | (none) | | | |")
        hints = typing.get_type_hints(params_cls)
        for f in fields:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if "choices" in f.metadata:
                kind = "one of " + ", ".join(f"`{json.dumps(c)}`" for c in f.metadata["choices"])
            else:
                kind = re.sub(r"<class '(\w+)'>", r"\1", str(hints[f.name]))
                kind = re.sub(r"\bNone\b", "null", kind)
            context = f.metadata.get("run_context", "")
            rows.append(f"| `{name}` | `{f.name}` | {kind.replace('|', '&#124;')} | `{json.dumps(default)}` | {context} |")
    return "\n".join(rows)
