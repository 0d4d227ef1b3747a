"""The protocol every task-weighting method implements, and the registry that builds them by name.

A weighting method turns per-task signals (validation losses, training losses, gradients) into K
non-negative task weights summing to 1. The trainer never branches on a method's name: it reads the
``needs_*`` flags a method declares and feeds it accordingly::

    ctl = build_weighting("coba", num_tasks=3, history_window=40, warmup_steps=20, tau=5.0)
    ctl.start(full_validation_losses)          # once, before training (most methods ignore it)
    w = ctl.update(val_losses=[2.1, 3.0, 2.4])  # once per controller step

The trainer's protocol, every ``update_interval`` optimizer steps (controller step t = 0, 1, ...):

1. if ``needs_val_losses``: K per-task losses on a stratified validation batch, BEFORE the step;
2. if not ``updates_after_step``: ``update(val_losses=...)`` (or ``update()``) before the step,
   and the returned weights are used for this step (CoBa, LBTW*, random);
3. otherwise the step runs with the current ``weights``, then ``update`` is called once with every
   declared signal: ``val_losses`` (from 1), ``train_losses`` (this step's global batch, measured
   in its forward pass), ``grad_norms`` (|| d l_i / d W || for W the output layer, unweighted
   task losses) and ``after_losses`` (the batch named by ``after_step``, re-measured after the
   optimizer step); the returned weights apply from the next step.

Per-task signals are NaN for a task absent from the step. Signals are identical on every rank,
so a method must be deterministic (randomness is seeded and its state checkpointed).

Each method keeps its hyper-parameters in a small frozen dataclass (``Params``), so defaults and
validation live in one place and a mistyped or invalid parameter fails at construction with a
message naming the parameter, the method and its valid parameters.
"""
from __future__ import annotations

import dataclasses
import difflib
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

# The registry of method classes by name: the only mutable module-level state of this package.
_REGISTRY: dict[str, type["WeightingMethod"]] = {}

# Facts about the run that the trainer passes to every method: the number of validation batches
# M, which CoBa's "auto" window is defined by, and steps_per_epoch, the number of CONTROLLER steps
# (update calls) per epoch, i.e. ceil(optimizer steps per epoch / update_interval), which a period
# given as "epoch" means (DWA's default period, LBTW's optional reset). A method whose Params has
# no such field ignores them, so the trainer needs no per-method branches.
RUN_CONTEXT_PARAMS = frozenset({"num_valid_batches", "steps_per_epoch"})

M = TypeVar("M", bound="WeightingMethod")


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a method that takes none."""


class WeightingMethod(ABC):
    """One task-weighting method: keeps its state, turns per-task signals into K weights.

    Subclasses set ``Params`` (a frozen dataclass whose ``__post_init__`` validates values and
    raises ``ValueError("weighting.<name> ...")``), the ``needs_*`` flags and ``after_step``
    (class attributes, or properties where they depend on the parameters, e.g. a ``source``), and
    implement ``update``, ``state_dict`` and ``load_state_dict``. ``weights`` is uniform until the
    method says otherwise.
    """

    name: ClassVar[str] = ""  # set by @register
    Params: ClassVar[type] = NoParams
    needs_val_losses: ClassVar[bool] = False    # validation losses, measured before the step
    needs_train_losses: ClassVar[bool] = False  # this step's training losses (forward pass)
    needs_grads: ClassVar[bool] = False         # per-task output-layer gradient norms
    after_step: ClassVar[str | None] = None     # "train" / "valid": that batch re-measured after the step

    @property
    def updates_after_step(self) -> bool:
        """True when ``update`` is called after the optimizer step (its weights apply from the
        next step): the method reads something the step produces or a re-measure after it."""
        return bool(self.needs_train_losses or self.needs_grads or self.after_step is not None)

    def __init__(self, num_tasks: int, **params: Any) -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
            raise ValueError(f"{self._label()}: num_tasks must be a positive integer, got {num_tasks!r}")
        self.num_tasks = int(num_tasks)
        self.params = parse_params(self._label(), self.Params, params)
        self._weights = np.full(self.num_tasks, 1.0 / self.num_tasks)

    @classmethod
    def _label(cls) -> str:
        return cls.name or cls.__name__

    @property
    def weights(self) -> np.ndarray:
        """The current weights, float64 (K,), non-negative, summing to 1 (a copy)."""
        return self._weights.copy()

    def start(self, val_losses: Any = None) -> None:
        """Called once before training with the losses of a full validation pass; default no-op."""

    @abstractmethod
    def update(self, *, val_losses: Any = None, train_losses: Any = None, grad_norms: Any = None,
               after_losses: Any = None) -> np.ndarray:
        """One controller step: read this step's signals, return the weights to use from now on.

        The trainer passes only the signals the method declares (see the module docstring)."""

    def scores(self) -> dict[str, list[float] | float]:
        """Per-step quantities worth logging (per-task lists or scalars); none by default."""
        return {}

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as JSON-serialisable plain Python."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (possibly after a JSON round trip)."""

    # ---- helpers for subclasses ---------------------------------------------------------------
    def _loss_vector(self, values: Any, what: str) -> np.ndarray:
        """``values`` (list, NumPy array or tensor) as a float64 (K,) array, or a clear error."""
        if values is None:
            raise ValueError(f"{self._label()} needs {what}= at every update (needs_{what} is True)")
        if hasattr(values, "detach"):  # a torch tensor, possibly bf16 or on an accelerator
            values = values.detach().cpu().double().numpy()
        arr = np.array(values, dtype=np.float64)
        if arr.shape != (self.num_tasks,):
            raise ValueError(f"{self._label()}: expected {what} for {self.num_tasks} tasks, "
                             f"got shape {arr.shape}")
        return arr

    def _state_header(self) -> dict[str, Any]:
        return {"method": self.name, "num_tasks": self.num_tasks}

    def _check_state(self, state: dict[str, Any], **expected: Any) -> None:
        """Refuse a state saved by another method or with a different configuration."""
        expected = {**self._state_header(), **expected}
        wrong = [f"{key}={state.get(key)!r} (this controller: {value!r})"
                 for key, value in expected.items() if state.get(key) != value]
        if wrong:
            raise ValueError(f"{self._label()}: cannot load this weighting state, it was saved with "
                             + ", ".join(wrong))


def parse_params(method: str, params_cls: type, params: dict[str, Any]) -> Any:
    """Build ``params_cls`` from keyword ``params``: unknown names and invalid values are errors
    naming the parameter, the method and its valid parameters."""
    fields = [f.name for f in dataclasses.fields(params_cls)]
    valid = ", ".join(fields) if fields else "none"
    kwargs = {}
    for key, value in params.items():
        if key in fields:
            kwargs[key] = value
        elif key not in RUN_CONTEXT_PARAMS:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{method} has no parameter {key!r}{hint} (valid parameters: {valid})")
    try:
        return params_cls(**kwargs)
    except ValueError as err:
        raise ValueError(f"{err} ({method} parameters: {valid})") from None


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


def build_weighting(name: str, num_tasks: int, **params: Any) -> WeightingMethod:
    """The weighting method registered as ``name`` (case-insensitive), for ``num_tasks`` tasks.

    Raises ValueError for an unknown name (naming the available methods and the closest one), an
    unknown parameter, or an invalid value.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        names = available_methods()
        close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown weighting method {name!r}{hint} (available: {', '.join(names)})")
    return _REGISTRY[key](num_tasks, **params)
