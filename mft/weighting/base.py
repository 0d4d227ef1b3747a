"""The protocol every task-weighting method implements, and the registry that builds them by name.

A weighting method turns per-task signals (validation losses, training losses, gradients) into K
non-negative task weights summing to 1. The trainer never branches on a method's name: it reads
the ``needs`` a method declares and hands it one ``Signals`` object::

    ctl = build_weighting("coba", num_tasks=3, history_window=40, warmup_steps=20, tau=5.0)
    ctl.start(full_validation_losses)                  # once, before training (most methods ignore it)
    w = ctl.update(Signals(val_losses=[2.1, 3.0, 2.4]))  # once per controller step

The trainer's protocol, every ``update_interval`` optimizer steps (controller step t = 0, 1, ...):

1. if ``needs.val_losses``: K per-task losses on a stratified validation batch, BEFORE the step;
2. if not ``needs.updates_after_step``: ``update`` before the step, and the returned weights are
   used for this step (CoBa, LBTW*, random);
3. otherwise the step runs with the current ``weights``, then ``update`` is called once with every
   declared signal: ``val_losses`` (from 1), ``train_losses`` (this step's global batch, measured
   in its forward pass), ``grad_norms`` (|| d l_i / d W || for W the output layer, unweighted
   task losses) and ``after_losses`` (the batch named by ``needs.after_step``, re-measured after
   the optimizer step); the returned weights apply from the next step.

Per-task signals are NaN for a task absent from the step. Signals are identical on every rank,
so a method must be deterministic (randomness is seeded and its state checkpointed).

Each method keeps its hyper-parameters in a small frozen dataclass (``Params``), read with the
config loader (``mft.config_loader.build``): types, ``metadata={"choices": ...}`` and unknown names
are checked there with a did-you-mean hint, ranges in ``__post_init__``. ``check_weighting`` runs
the same checks when the run config loads, before any data is read.
"""
from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from ..config_loader import ConfigError, build, closest

# The registry of method classes by name: the only mutable module-level state of this package.
_REGISTRY: dict[str, type["WeightingMethod"]] = {}

# Facts about the run that the trainer passes to every method: the number of validation batches
# M, which CoBa's "auto" window is defined by, and steps_per_epoch, the number of CONTROLLER steps
# (update calls) per epoch, i.e. ceil(optimizer steps per epoch / update_interval), which a period
# given as "epoch" means (DWA's default period, LBTW's optional reset). A method whose Params has
# no such field ignores them, so the trainer needs no per-method branches.
RUN_CONTEXT_PARAMS = frozenset({"num_valid_batches", "steps_per_epoch"})

SIGNAL_NAMES = ("val_losses", "train_losses", "grad_norms", "after_losses")

M = TypeVar("M", bound="WeightingMethod")


@dataclasses.dataclass(frozen=True)
class Signals:
    """What one controller step can read: K per-task values each (NaN for a task absent from the
    step), or None where it was not measured. Lists, NumPy arrays and tensors are accepted;
    ``WeightingMethod.update`` hands the method float64 (K,) arrays."""

    val_losses: Any = None    # controller validation batch, before the step
    train_losses: Any = None  # this step's training batch, in its forward pass
    grad_norms: Any = None    # || d l_i / d W || on the output layer, this step's batch
    after_losses: Any = None  # the batch named by ``Needs.after_step``, re-measured after the step


@dataclasses.dataclass(frozen=True)
class Needs:
    """The signals a method reads at every update; the trainer measures exactly these."""

    val_losses: bool = False
    train_losses: bool = False
    grad_norms: bool = False
    after_step: str | None = None  # "train" / "valid": that batch re-measured after the step

    @property
    def after_losses(self) -> bool:
        return self.after_step is not None

    @property
    def updates_after_step(self) -> bool:
        """True when ``update`` runs after the optimizer step (its weights apply from the next
        step): the method reads something the step produces or a re-measure after it."""
        return self.train_losses or self.grad_norms or self.after_losses

    def names(self) -> tuple[str, ...]:
        """The ``Signals`` fields that must be set, in ``SIGNAL_NAMES`` order."""
        return tuple(name for name in SIGNAL_NAMES if getattr(self, name))


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a method that takes none."""


class WeightingMethod(ABC):
    """One task-weighting method: keeps its state, turns per-task signals into K weights.

    Subclasses set ``Params`` (a frozen dataclass; choices in field metadata, ranges checked in
    ``__post_init__`` with ``ValueError("weighting.<name> ...")``) and ``needs`` (a class
    attribute, or a property where it depends on the parameters, e.g. a ``source``), and implement
    ``_update``; a method with state beyond ``t`` and ``weights`` implements ``_state`` and
    ``_load_state`` (and ``_config`` for settings a checkpoint must match). ``weights`` is
    uniform until the method says otherwise.
    """

    name: ClassVar[str] = ""  # set by @register
    Params: ClassVar[type] = NoParams
    needs: ClassVar[Needs] = Needs()

    def __init__(self, num_tasks: int, **params: Any) -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
            raise ValueError(f"{self._label()}: num_tasks must be a positive integer, got {num_tasks!r}")
        self.num_tasks = int(num_tasks)
        self.params = parse_params(self._label(), self.Params, params)
        self._weights = np.full(self.num_tasks, 1.0 / self.num_tasks)
        self._t = 0

    @classmethod
    def _label(cls) -> str:
        return cls.name or cls.__name__

    @property
    def weights(self) -> np.ndarray:
        """The current weights, float64 (K,), non-negative, summing to 1 (a copy)."""
        return self._weights.copy()

    @property
    def t(self) -> int:
        """Number of updates the method has taken: the index of the next controller step."""
        return self._t

    def start(self, val_losses: Any = None) -> None:
        """Called once before training with the losses of a full validation pass; default no-op."""

    def update(self, signals: Signals | None = None) -> np.ndarray:
        """One controller step: read this step's signals, return the weights to use from now on.

        Every signal in ``needs`` must be set (ValueError otherwise); the others are ignored."""
        signals = Signals() if signals is None else signals
        checked = {name: self._loss_vector(getattr(signals, name), name) for name in self.needs.names()}
        return self._update(dataclasses.replace(signals, **checked))

    @abstractmethod
    def _update(self, signals: Signals) -> np.ndarray:
        """``update`` with the declared signals checked: float64 (K,) arrays."""

    def scores(self) -> dict[str, list[float] | float]:
        """Per-step quantities worth logging (per-task lists or scalars); none by default."""
        return {}

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as JSON-serialisable plain Python."""
        return {"method": self.name, "num_tasks": self.num_tasks, **self._config(), "t": self._t,
                **self._state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (possibly after a JSON round trip); a state saved
        by another method or with another configuration is refused."""
        expected = {"method": self.name, "num_tasks": self.num_tasks, **self._config()}
        wrong = [f"{key}={state.get(key)!r} (this controller: {value!r})"
                 for key, value in expected.items() if state.get(key) != value]
        if wrong:
            raise ValueError(f"{self._label()}: cannot load this weighting state, it was saved with "
                             + ", ".join(wrong))
        self._t = int(state["t"])
        self._load_state(state)

    def _config(self) -> dict[str, Any]:
        """Settings a loaded state must have been saved with."""
        return {}

    def _state(self) -> dict[str, Any]:
        """The method's own state, beyond t."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore ``_state()``."""

    # ---- helpers for subclasses ---------------------------------------------------------------
    def _loss_vector(self, values: Any, what: str) -> np.ndarray:
        """``values`` (list, NumPy array or tensor) as a float64 (K,) array, or a clear error."""
        if values is None:
            raise ValueError(f"{self._label()} needs {what}= at every update (Signals.{what}; "
                             f"its needs say so)")
        if hasattr(values, "detach"):  # a torch tensor, possibly bf16 or on an accelerator
            values = values.detach().cpu().double().numpy()
        arr = np.array(values, dtype=np.float64)
        if arr.shape != (self.num_tasks,):
            raise ValueError(f"{self._label()}: expected {what} for {self.num_tasks} tasks, "
                             f"got shape {arr.shape}")
        return arr


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


def parse_params(method: str, params_cls: type, params: dict[str, Any]) -> Any:
    """Build ``params_cls`` from keyword ``params`` with the config loader: unknown names,
    wrong types, values outside a field's choices and invalid values are errors naming the
    parameter, the method and its valid parameters. Run-context names a method does not take are
    dropped."""
    fields = [f.name for f in dataclasses.fields(params_cls)]
    valid = ", ".join(fields) if fields else "none"
    raw = {}
    for key, value in params.items():
        if key in fields:
            raw[key] = list(value) if isinstance(value, tuple) else value  # the loader reads JSON lists
        elif key not in RUN_CONTEXT_PARAMS:
            raise ConfigError(f"weighting.params: {method} has no parameter {key!r}{closest(key, fields)} "
                              f"(valid parameters: {valid})")
    try:
        return build(params_cls, raw, where="weighting")
    except ConfigError as err:
        raise ConfigError(f"{err} ({method} parameters: {valid})") from None


def register(name: str) -> Callable[[type[M]], type[M]]:
    """Class decorator: make a WeightingMethod buildable as ``build_weighting(name, ...)``."""
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"weighting method names are lower-case identifiers, got {name!r}")

    def decorate(cls: type[M]) -> type[M]:
        if not (isinstance(cls, type) and issubclass(cls, WeightingMethod)):
            raise TypeError(f"@register({name!r}) needs a WeightingMethod subclass, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"weighting method {name!r} is already registered "
                             f"({_REGISTRY[name].__module__}.{_REGISTRY[name].__qualname__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available_methods() -> list[str]:
    """Names accepted by ``build_weighting``, sorted."""
    return sorted(_REGISTRY)


def method_class(name: str) -> type[WeightingMethod]:
    """The class registered as ``name`` (case-insensitive); ConfigError naming ``weighting.method``
    with the closest name and the available ones otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        names = available_methods()
        raise ConfigError(f"weighting.method: unknown weighting method {name!r}{closest(str(key), names)} "
                          f"(available: {', '.join(names)})")
    return _REGISTRY[key]


def build_weighting(name: str, num_tasks: int, **params: Any) -> WeightingMethod:
    """The weighting method registered as ``name`` (case-insensitive), for ``num_tasks`` tasks.

    Raises ValueError (a ``ConfigError``) for an unknown name (naming the available methods and the
    closest one), an unknown parameter, or an invalid value.
    """
    return method_class(name)(num_tasks, **params)


def check_weighting(name: str, params: dict[str, Any]) -> None:
    """The checks ``build_weighting`` makes that need no run: the method's name and its
    parameters' names, types and values, with stand-ins for the run context (the trainer passes
    the real values). For the config loader, so a mistake ends the run before any data is read."""
    cls = method_class(name)
    stand_ins = {key: 1 for key in RUN_CONTEXT_PARAMS if key not in params}
    parse_params(cls.name, cls.Params, {**stand_ins, **params})
