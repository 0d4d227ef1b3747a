"""Run one command of an untrusted program under `launcher.py` and collect what happened."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

from .limits import Limits

LAUNCHER = str(Path(__file__).with_name("launcher.py"))
T = TypeVar("T")


@dataclass(frozen=True)
class SandboxUser:
    """The unprivileged identity a worker's programs run as (a bare uid/gid, no passwd entry)."""

    uid: int
    gid: int


@dataclass(frozen=True)
class StepResult:
    """Outcome of one command: exit status, kill reason, captured (capped) output, usage."""

    argv: tuple[str, ...]
    exit_code: int | None  # None when killed by a signal or never started
    signal: int | None
    timed_out: bool  # the wall-clock timeout expired and the step was killed
    stdout: str
    stderr: str
    stdout_bytes: int  # total written, also beyond the captured part
    stderr_bytes: int
    wall_s: float
    cpu_s: float | None
    error: str | None = None  # the sandbox could not start the program (not the program's fault)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    @property
    def over_time(self) -> bool:
        """Killed for time: wall clock, or the CPU-time limit (SIGXCPU, then SIGKILL)."""
        return self.timed_out or self.signal in (signal.SIGXCPU, signal.SIGKILL)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _read_capped(f, cap: int) -> tuple[str, int]:
    """The captured stream, or its head and tail when longer than `cap` bytes (errors are at the end)."""
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    if size <= cap:
        data = f.read()
    else:
        head = f.read(cap // 2)
        f.seek(size - cap // 2)
        data = head + f"\n[... {size - 2 * (cap // 2)} bytes left out ...]\n".encode() + f.read()
    return data.decode("utf-8", errors="replace"), size


def _read_status(fd: int) -> dict:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    status: dict = {}
    for line in b"".join(chunks).splitlines():  # a failed exec's error line, then the init's report
        try:
            status = {**json.loads(line), **status}
        except ValueError:
            continue
    return status


def _launcher_argv(
    argv: Sequence[str], user: SandboxUser | None, limits: Limits, cpu_s: float, namespaces: bool, status_fd: int
) -> list[str]:
    spec = {
        "uid": user.uid if user else None,
        "gid": user.gid if user else None,
        # as root the process limit counts this worker's own uid; as a normal user it would count
        # all of the user's processes, so it is left to the system there
        "rlimits": limits.rlimits(cpu_s, set_nproc=user is not None),
        "namespaces": namespaces,
    }
    return [sys.executable, "-I", "-S", LAUNCHER, json.dumps(spec), str(status_fd), "--", *argv]


def _start_launcher(
    argv: Sequence[str], user: SandboxUser | None, limits: Limits, cpu_s: float, namespaces: bool, *,
    cwd: str | os.PathLike, env: Mapping[str, str], stdin, stdout, stderr,
) -> tuple[subprocess.Popen, int]:
    """Start `argv` under the launcher in a new session; returns the process and the read end
    of its status pipe (the write end is the launcher's alone)."""
    status_r, status_w = os.pipe()
    try:
        proc = subprocess.Popen(
            _launcher_argv(argv, user, limits, cpu_s, namespaces, status_w),
            cwd=cwd,
            env=dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            pass_fds=(status_w,),
        )
    except BaseException:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    return proc, status_r


def run_step(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike,
    env: Mapping[str, str],
    timeout_s: float,
    limits: Limits,
    user: SandboxUser | None,
    namespaces: bool,
) -> StepResult:
    """Run `argv` in `cwd` as `user` with `limits`, killing it (and all it started) after `timeout_s`.

    stdin is /dev/null; stdout and stderr go to anonymous files (bounded by the file-size limit)
    of which `limits.output_kb` KiB (head and tail) are kept.
    """
    cap = limits.output_kb * 1024
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc, status_r = _start_launcher(argv, user, limits, timeout_s, namespaces, cwd=cwd, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except BaseException as exc:  # the timeout, or the harness being interrupted
            timed_out = isinstance(exc, subprocess.TimeoutExpired)
            # the launcher and the init of the step's PID namespace share this process group;
            # when that init dies the kernel kills everything left in the namespace
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if not timed_out:
                os.close(status_r)
                raise
        wall = time.monotonic() - start
        status = _read_status(status_r)
        stdout, stdout_bytes = _read_capped(out, cap)
        stderr, stderr_bytes = _read_capped(err, cap)
    return StepResult(
        argv=tuple(argv),
        exit_code=status.get("exit_code"),
        signal=status.get("signal"),
        timed_out=timed_out,
        stdout=stdout,
        stderr=stderr,
        stdout_bytes=stdout_bytes,
        stderr_bytes=stderr_bytes,
        wall_s=wall,
        cpu_s=status.get("cpu_s"),
        error=status.get("error") or (None if timed_out or "exit_code" in status else "the sandbox launcher died"),
    )


class Service:
    """A long-lived sandboxed process spoken to over its stdin and stdout (see `spawn_service`)."""

    def __init__(self, proc: subprocess.Popen, status_r: int):
        self.proc = proc
        self._status_r = status_r

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, payload: bytes, read_reply: Callable[[Callable[[int], bytes]], T], timeout_s: float) -> T | None:
        """Send `payload`, then let `read_reply` read the answer through ``read(n)``.

        None when the answer does not come within `timeout_s` (the service is then stopped).
        """
        deadline = time.monotonic() + timeout_s
        out = self.proc.stdout.fileno()

        def read(n: int) -> bytes:
            chunks, left = [], n
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([out], [], [], remaining)[0]:
                    raise TimeoutError
                chunk = os.read(out, left)
                if not chunk:
                    raise EOFError("the service ended")
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.flush()
            return read_reply(read)
        except TimeoutError:
            self.stop()
            return None

    def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self._status_r >= 0:
            os.close(self._status_r)
            self._status_r = -1


def spawn_service(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike,
    env: Mapping[str, str],
    limits: Limits,
    user: SandboxUser | None,
    namespaces: bool,
    cpu_s: float = 3600,
) -> Service:
    """Start `argv` under the launcher like `run_step`, but long-lived, with piped stdin/stdout.

    Its stderr is discarded. The process dies with the thread that started it (the launcher's
    parent-death signal), so a worker's services end with the worker.
    """
    proc, status_r = _start_launcher(argv, user, limits, cpu_s, namespaces, cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return Service(proc, status_r)
