"""Resource limits for one sandboxed step, and how they map onto setrlimit.

The wall-clock timeout is kept per step by the caller; the CPU-time limit derived from it is a
second line of defence for a process that escapes the wall-clock kill. `processes` counts every
process and thread of the sandbox user (RLIMIT_NPROC), which is why each worker runs under its
own user id: a fork bomb in one worker cannot starve another.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-process limits applied to every step of a program (compile and run alike)."""

    memory_mb: int = 4096  # address space (RLIMIT_AS); a 50 GB allocation fails with ENOMEM
    file_mb: int = 128  # largest file a process may write (RLIMIT_FSIZE), captured output included
    processes: int = 128  # processes + threads of the sandbox user (RLIMIT_NPROC)
    open_files: int = 1024  # RLIMIT_NOFILE
    output_kb: int = 64  # captured stdout / stderr kept per stream; the rest is counted, not kept

    def with_(self, **changes) -> "Limits":
        """A copy with some fields changed (``limits.with_(memory_mb=8192)``)."""
        return replace(self, **changes)

    def rlimits(self, timeout_s: float, *, set_nproc: bool = True) -> dict[str, tuple[int, int]]:
        """setrlimit arguments by resource name, for a step with wall-clock timeout `timeout_s`.

        CPU time: SIGXCPU at ceil(timeout) + 1 s, SIGKILL one second later.
        """
        cpu = math.ceil(timeout_s) + 1
        limits = {
            "RLIMIT_CPU": (cpu, cpu + 1),
            "RLIMIT_AS": (self.memory_mb * MB, self.memory_mb * MB),
            "RLIMIT_FSIZE": (self.file_mb * MB, self.file_mb * MB),
            "RLIMIT_NOFILE": (self.open_files, self.open_files),
            "RLIMIT_CORE": (0, 0),
        }
        if set_nproc:
            limits["RLIMIT_NPROC"] = (self.processes, self.processes)
        return limits
