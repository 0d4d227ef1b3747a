"""Worker pool for untrusted programs: one sandbox (own user id, own work folders) per worker.

As root (these machines and CI), each worker runs its programs as a user of its own (claimed in
`users.py`), and its long-lived helpers (the Java compile server) as another, so the process
limit holds, programs of two workers cannot touch each other's folders, and nothing they write
is readable elsewhere. Each step also gets fresh PID, network and IPC namespaces (see
`launcher.py`). A normal user cannot switch users: programs then run as that user, without a
process limit (it would count all of the user's processes), in namespaces where the kernel
allows unprivileged user namespaces; a warning says so.
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from .limits import Limits
from .process import SandboxUser, Service, StepResult, run_step, spawn_service
from .users import UserClaim, kill_all_of, sweep_shared_tmp

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class Sandbox:
    """One worker's sandbox: its user, whether steps get namespaces, fresh folders for programs.

    `service_user` runs the worker's long-lived helpers (a compile server): a user of its own,
    so that clearing away what a program left behind does not touch them.
    """

    def __init__(self, base: Path, user: SandboxUser | None, namespaces: bool, service_user: SandboxUser | None = None):
        self.base = base
        self.user = user
        self.namespaces = namespaces
        self.service_user = service_user

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A fresh, private folder owned by the sandbox user; removed (with its /tmp litter) after."""
        path = Path(tempfile.mkdtemp(dir=self.base, prefix="p"))
        try:
            self.give(path)
            yield path
        finally:
            if self.user is not None:
                kill_all_of(self.user.uid)
                sweep_shared_tmp(self.user.uid)
            shutil.rmtree(path, ignore_errors=True)

    def give_path(self, path: Path) -> None:
        """Hand `path` alone (not what a folder holds) to the sandbox user."""
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid, follow_symlinks=False)

    def give(self, path: Path) -> None:
        """Hand `path` (a file, or a folder and everything in it) to the sandbox user.

        Never on hard links to files that must stay the evaluator's: chown changes the file itself.
        """
        if self.user is None:
            return
        self.give_path(path)
        if path.is_dir() and not path.is_symlink():
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), self.user.uid, self.user.gid, follow_symlinks=False)

    def run(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float, limits: Limits
    ) -> StepResult:
        return run_step(
            argv, cwd=cwd, env=env, timeout_s=timeout_s, limits=limits, user=self.user, namespaces=self.namespaces
        )


    def service_dir(self) -> Path:
        """A fresh folder for a helper, owned by the service user (removed with the pool)."""
        path = Path(tempfile.mkdtemp(dir=self.base, prefix="s"))
        if self.service_user is not None:
            os.chown(path, self.service_user.uid, self.service_user.gid)
        return path

    def spawn_service(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], limits: Limits) -> Service:
        """A long-lived helper as the service user, with this sandbox's namespaces and `limits`."""
        return spawn_service(argv, cwd=cwd, env=env, limits=limits, user=self.service_user, namespaces=self.namespaces)


def _namespaces_work(base: Path, user: SandboxUser | None) -> bool:
    probe = Sandbox(base, user, namespaces=True)
    with probe.workdir() as wd:
        result = probe.run(["true"], cwd=wd, env={"PATH": "/usr/bin:/bin"}, timeout_s=10, limits=Limits())
    if not result.ok:
        log.warning("eval sandbox: no PID/network namespaces (%s); programs can reach the network", result.error)
    return result.ok


class SandboxPool:
    """`workers` sandboxes behind a thread pool; `map_unordered` runs a function in each free one.

    Use as a context manager; closing removes every work folder.
    """

    def __init__(self, workers: int | None = None, *, isolate: bool = True, work_root: str | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.base = Path(tempfile.mkdtemp(prefix="mft-eval-", dir=work_root))
        os.chmod(self.base, 0o711)  # sandbox users may enter their own folders, not list others
        self._claim: UserClaim | None = None
        try:
            if isolate:
                self._claim = UserClaim(2 * self.workers)
                both = self._claim.users
            else:
                both = [None] * (2 * self.workers)
            users, service_users = both[: self.workers], both[self.workers:]
            if users[0] is None and isolate:
                log.warning(
                    "eval sandbox: not root, so programs run as the current user, without a process "
                    "limit; run as root (or in a container) for full isolation"
                )
            namespaces = isolate and _namespaces_work(self.base, users[0])
        except BaseException:
            self._release()
            raise
        self.isolated = users[0] is not None
        self.namespaces = namespaces
        self._free: queue.Queue[Sandbox] = queue.Queue()
        for user, service_user in zip(users, service_users):
            self._free.put(Sandbox(self.base, user, namespaces, service_user))
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="sandbox")

    def submit(self, fn: Callable[[Sandbox, T], R], item: T) -> Future:
        """Run ``fn(sandbox, item)`` in the next free sandbox; a Future of its result."""

        def task() -> R:
            sandbox = self._free.get()
            try:
                return fn(sandbox, item)
            finally:
                self._free.put(sandbox)

        return self._executor.submit(task)

    def map_unordered(self, fn: Callable[[Sandbox, T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(sandbox, item))`` as items finish, each call in a free sandbox."""
        futures = {self.submit(fn, item): i for i, item in enumerate(items)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (their helpers die with them), clear up and give the users back."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._release()

    def _release(self) -> None:
        if self._claim is not None:
            for user in self._claim.users:
                if user is not None:
                    kill_all_of(user.uid)
            self._claim.release()
            self._claim = None
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
