"""The unprivileged users programs run as, claimed per pool, and clearing up after them.

As root, a pool claims bare uids (no passwd entry needed) from ``$MFT_SANDBOX_UID_BASE``
(default 64100) upwards: one per worker for programs, one per worker for its helpers. A uid is
claimed by holding an exclusive lock on ``<cache>/eval/uid-locks/<uid>.lock`` for the pool's
lifetime (released by the kernel if the process dies), and only if no process runs as it, so two
evaluations on one machine (two test runs, say) never share a user, and never kill each other's
programs when they clear up.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import time
from pathlib import Path

from ..errors import EvalError
from .process import SandboxUser

UID_BASE_ENV = "MFT_SANDBOX_UID_BASE"
DEFAULT_UID_BASE = 64100
SEARCH_SPAN = 1000  # uids tried above the base
# world-writable places a sandbox user can write to outside its folder; swept after each program
SHARED_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def processes_of(uids: set[int]) -> dict[int, int]:
    """{pid: uid} of the processes whose real uid is in `uids` (from /proc)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
                        if uid in uids:
                            found[int(entry.name)] = uid
                        break
        except OSError:
            continue
    return found


def kill_all_of(uid: int, wait_s: float = 10.0) -> None:
    """SIGKILL every process of `uid` until none is left (a namespace torn down by the kernel
    can outlive the harness's wait on its launcher for a moment)."""
    deadline = time.monotonic() + wait_s
    while True:
        pids = processes_of({uid})
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def sweep_shared_tmp(uid: int) -> None:
    """Delete what `uid` left at the top of the shared temporary folders."""
    for folder in SHARED_TMP_DIRS:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if st.st_uid != uid:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def _lock_dir() -> Path:
    cache = Path(os.environ.get("MFT_CACHE", Path.home() / ".cache" / "mft"))
    folder = cache / "eval" / "uid-locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


class UserClaim:
    """`count` users held for one pool (all None when not root); `release` gives them back."""

    def __init__(self, count: int):
        self._locks: list[int] = []
        if os.geteuid() != 0:
            self.users: list[SandboxUser | None] = [None] * count
            return
        raw = os.environ.get(UID_BASE_ENV, str(DEFAULT_UID_BASE))
        try:
            base = int(raw)
        except ValueError:
            raise EvalError(f"{UID_BASE_ENV}={raw!r} is not a number; set it to a free uid such as {DEFAULT_UID_BASE}")
        folder = _lock_dir()
        claimed: list[SandboxUser | None] = []
        for uid in range(base, base + SEARCH_SPAN):
            if len(claimed) == count:
                break
            fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # another evaluation holds it
            if processes_of({uid}):
                os.close(fd)  # someone else's uid, or what a crashed evaluation left
                continue
            self._locks.append(fd)
            claimed.append(SandboxUser(uid, uid))
        if len(claimed) < count:
            self.release()
            raise EvalError(f"no {count} free sandbox uids in {base}..{base + SEARCH_SPAN - 1}; "
                            f"set {UID_BASE_ENV} to the start of an unused range")
        self.users = claimed

    def release(self) -> None:
        for fd in self._locks:
            os.close(fd)
        self._locks = []
