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

Each method keeps its hyper-parameters in a small frozen dataclass (``Params``), parsed from
``weighting.params`` when the run config loads (``mft.weighting.params``); the facts only the
trainer knows arrive separately as a ``RunContext`` when the method is built.

The base class owns the bookkeeping: it advances ``t`` after every ``_update`` (inside
``_update``, ``self.t`` is the index of the current controller step), saves and restores the
attributes a method declares in ``state_fields``, keeps ``start()``'s losses for a method that
reads them, and warns once.
"""
from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from ..config_loader import ConfigError, closest
from .params import NoParams, RunContext, parse_params
from .state import load_fields, save_fields

# The registry of method classes by name: the only mutable module-level state of this package.
_REGISTRY: dict[str, type["WeightingMethod"]] = {}

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


class StepSkipped(Exception):
    """Raised by ``_update`` before it changes anything: the step leaves the method as it was
    (``t`` does not advance, the weights stay); the message, logged as a warning, says why."""


class WeightingMethod(ABC):
    """One task-weighting method: keeps its state, turns per-task signals into K weights.

    A subclass is its parameters and its math:

    - ``Params``: a frozen dataclass (choices in field metadata, ranges checked in
      ``__post_init__`` with ``ValueError("weighting.params.<key>: ...")``);
    - ``needs``: a class attribute, or a property where it depends on the parameters;
    - ``_setup()``: its state from ``self.params`` and ``self.context`` (the run context);
    - ``_update(signals)``: one controller step, ``self.t`` its index; sets ``self._weights``;
    - ``state_fields``: the attributes a checkpoint holds (``mft.weighting.state`` kinds);
      ``informational``: ``Params`` fields saved for the reader but not restored (a resumed run
      may change them); ``_config()``: settings a loaded state must match; ``_state()`` and
      ``_load_state()`` only for what a declaration cannot say (derived values, a generator);
    - ``reads_start`` and ``_start(losses)``: a method whose reference losses may come from
      ``start()``'s full validation pass.
    ``weights`` is uniform until the method says otherwise.
    """

    name: ClassVar[str] = ""  # set by @register
    Params: ClassVar[type] = NoParams
    needs: ClassVar[Needs] = Needs()
    state_fields: ClassVar[dict[str, str]] = {}
    informational: ClassVar[tuple[str, ...]] = ()
    reads_start: ClassVar[bool] = False

    def __init__(self, num_tasks: int, params: Any = None, context: RunContext | None = None) -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
            raise ValueError(f"{self._label()}: num_tasks must be a positive integer, got {num_tasks!r}")
        self.num_tasks = int(num_tasks)
        self.params = (params if isinstance(params, self.Params)
                       else parse_params(self._label(), self.Params, {} if params is None else params))
        self.context = RunContext() if context is None else context
        self._weights = np.full(self.num_tasks, 1.0 / self.num_tasks)
        self._t = 0
        self._started = False  # start() kept losses (reads_start only)
        self._warned: set[str] = set()
        self._setup()

    def _setup(self) -> None:
        """The method's state from ``self.params`` and ``self.context``; nothing by default."""

    @classmethod
    def _label(cls) -> str:
        return cls.name or cls.__name__

    @property
    def weights(self) -> np.ndarray:
        """The current weights, float64 (K,), non-negative, summing to 1 (a copy)."""
        return self._weights.copy()

    @property
    def t(self) -> int:
        """Number of updates the method has taken: the index of the next controller step (inside
        ``_update``, of the current one)."""
        return self._t

    def start(self, val_losses: Any = None) -> None:
        """Called once before training with the losses of a full validation pass. The shape is
        checked for every method (a wiring mistake fails either way); a method that
        ``reads_start`` keeps them (``_start``), which must come before the first update."""
        if val_losses is None:
            return
        losses = self._loss_vector(val_losses, "val_losses")
        if not self.reads_start:
            return
        if self._t > 0:
            raise RuntimeError(f"{self._label()}: start() must be called before the first update(); "
                               f"{self._t} updates have been made")
        self._start(losses)
        self._started = True

    def _start(self, losses: np.ndarray) -> None:
        """Keep ``start()``'s checked losses (only called where ``reads_start``)."""

    def update(self, signals: Signals | None = None) -> np.ndarray:
        """One controller step: read this step's signals, return the weights to use from now on.

        Every signal in ``needs`` must be set (ValueError otherwise); the others are ignored."""
        signals = Signals() if signals is None else signals
        checked = {name: self._loss_vector(getattr(signals, name), name) for name in self.needs.names()}
        try:
            self._update(dataclasses.replace(signals, **checked))
        except StepSkipped as skipped:
            self._logger().warning("%s: %s at controller step %d; update skipped, t and weights unchanged",
                                   self._label(), skipped, self._t)
            return self.weights
        self._t += 1
        return self.weights

    @abstractmethod
    def _update(self, signals: Signals) -> None:
        """``update`` with the declared signals checked (float64 (K,) arrays), at step ``self.t``."""

    def scores(self) -> dict[str, list[float] | float]:
        """Per-step quantities worth logging (per-task lists or scalars); none by default."""
        return {}

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as JSON-serialisable plain Python."""
        info = {key: _plain(getattr(self.params, key)) for key in self.informational}
        return {"method": self.name, "num_tasks": self.num_tasks, **self._config(), "t": self._t, **info,
                **save_fields(self, self.state_fields), **self._state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (possibly after a JSON round trip); a state saved
        by another method or with another configuration is refused."""
        expected = {"method": self.name, "num_tasks": self.num_tasks, **self._config()}
        wrong = [f"{key}={state.get(key)!r} (this controller: {value!r})"
                 for key, value in expected.items() if state.get(key) != value]
        if wrong:
            raise ConfigError(f"weighting: cannot resume {self._label()}'s state, it was saved with "
                              + ", ".join(wrong) + "; resume with the same weighting settings")
        self._t = int(state["t"])
        load_fields(self, self.state_fields, state)
        self._load_state(state)

    def _config(self) -> dict[str, Any]:
        """Settings a loaded state must have been saved with."""
        return {}

    def _state(self) -> dict[str, Any]:
        """State a declaration cannot say; none by default."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """After the declared fields are restored: restore ``_state()`` and derived values."""

    # ---- helpers for subclasses ---------------------------------------------------------------
    def _logger(self) -> logging.Logger:
        return logging.getLogger(type(self).__module__)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        """Log ``message`` as a warning the first time ``key`` is seen by this instance."""
        if key not in self._warned:
            self._warned.add(key)
            self._logger().warning(message, *args)

    def _warn_unstarted(self, stand_in: str) -> None:
        """At the first update of a method that reads ``start()``: warn (once) when it was not
        called, saying what stands in for its losses."""
        if self.reads_start and self._t == 0 and not self._started:
            self._warn_once("start", "%s: start() was not called before the first update; %s",
                            self._label(), stand_in)

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


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


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


def build_weighting(name: str, num_tasks: int, params: Any = None, *, context: RunContext | None = None,
                    **by_name: Any) -> WeightingMethod:
    """The weighting method registered as ``name`` (case-insensitive), for ``num_tasks`` tasks.

    Its parameters are ``params`` (its parsed ``Params``, as ``WeightingConfig.params`` holds
    them, or a dict) or given by name (``build_weighting("coba", 3, tau=5.0)``), not both;
    ``context`` holds what the trainer knows about the run. Raises ValueError (a ``ConfigError``)
    for an unknown name, parameter or invalid value, naming the key.
    """
    if params is not None and by_name:
        raise TypeError("build_weighting: give the parameters as params= or by name, not both")
    return method_class(name)(num_tasks, by_name if params is None else params, context)


def weighting_params(name: str, raw: Any) -> Any:
    """The ``Params`` of method ``name`` parsed from the config's ``weighting.params`` dict: the
    method's name and its parameters' names, types and values are checked here, when the run
    config loads, before any data is read. What needs the run context is checked when the
    method is built."""
    cls = method_class(name)
    return raw if isinstance(raw, cls.Params) else parse_params(cls.name, cls.Params, raw)
