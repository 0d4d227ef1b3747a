"""Checkpoint state by declaration: how each kind of attribute is saved as plain JSON-safe Python
and read back bit for bit.

A method lists its state as ``state_fields = {"_ratios": ARRAY, "_adam": STATEFUL, ...}``; the
key in the checkpoint is the attribute name without its leading underscore. Floats survive JSON
exactly (Python's repr round-trips), so a resumed method continues with the same bits.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

ARRAY = "array"                  # float64 array <-> list of floats
INT_ARRAY = "int_array"          # int64 array <-> list of ints
NAN_ARRAY = "nan_array"          # float64 array or None <-> list with NaN as null (to_json)
NAN_ARRAYS = "nan_arrays"        # list of NAN_ARRAY
NAN_ARRAY_DICT = "nan_array_dict"  # dict name -> NAN_ARRAY
FLOAT, INT, BOOL = "float", "int", "bool"
STATEFUL = "stateful"            # an object with state_dict() / load_state_dict() (Adam, histories)


def to_json(values: np.ndarray | None) -> list[float | None] | None:
    """A float array as a JSON-safe list: NaN (not known) becomes None; other floats are exact."""
    if values is None:
        return None
    return [None if math.isnan(v) else v for v in np.asarray(values, dtype=np.float64).tolist()]


def from_json(values: list[float | None] | None) -> np.ndarray | None:
    """The inverse of ``to_json``."""
    if values is None:
        return None
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _load_stateful(current: Any, saved: Any) -> Any:
    current.load_state_dict(saved)
    return current


# kind -> (save: value -> plain, load: (current value, plain) -> value)
CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    ARRAY: (lambda a: a.tolist(), lambda _, v: np.asarray(v, dtype=np.float64)),
    INT_ARRAY: (lambda a: a.tolist(), lambda _, v: np.asarray(v, dtype=np.int64)),
    NAN_ARRAY: (to_json, lambda _, v: from_json(v)),
    NAN_ARRAYS: (lambda xs: [to_json(a) for a in xs], lambda _, v: [from_json(a) for a in v]),
    NAN_ARRAY_DICT: (lambda d: {k: to_json(a) for k, a in d.items()},
                     lambda _, v: {k: from_json(a) for k, a in v.items()}),
    FLOAT: (float, lambda _, v: float(v)),
    INT: (int, lambda _, v: int(v)),
    BOOL: (bool, lambda _, v: bool(v)),
    STATEFUL: (lambda obj: obj.state_dict(), _load_stateful),
}


def saved_key(attribute: str) -> str:
    return attribute.lstrip("_")


def save_fields(owner: Any, fields: dict[str, str]) -> dict[str, Any]:
    """The declared attributes of ``owner`` as plain Python, keyed by ``saved_key``."""
    return {saved_key(attr): CODECS[kind][0](getattr(owner, attr)) for attr, kind in fields.items()}


def load_fields(owner: Any, fields: dict[str, str], state: dict[str, Any]) -> None:
    """Restore what ``save_fields`` returned (possibly after a JSON round trip)."""
    for attr, kind in fields.items():
        setattr(owner, attr, CODECS[kind][1](getattr(owner, attr), state[saved_key(attr)]))
