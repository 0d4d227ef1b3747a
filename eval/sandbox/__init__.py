"""Sandboxed execution of untrusted programs (see `pool.py` for the isolation model)."""
from .limits import Limits
from .pool import Sandbox, SandboxPool
from .process import SandboxUser, Service, StepResult, run_step, spawn_service

__all__ = ["Limits", "Sandbox", "SandboxPool", "SandboxUser", "Service", "StepResult", "run_step", "spawn_service"]
