"""DeepSpeed's shared-memory all-reduce op on CPU: built safely once per machine, its buffers never leaked.

Building. On CPU, DeepSpeed compiles its `deepspeed_shm_comm` op with g++ the first time a process
group starts (26-98 s here), through torch.utils.cpp_extension. That build folder is guarded by a
`lock` file which torch creates, holds open while ninja runs (also on every later load, for a
moment) and deletes afterwards. A process killed inside that window (a timeout, `kill -9`, Ctrl-C
at the wrong moment) leaves the file behind, and from then on every DeepSpeed start on the machine
waits on it forever, printing nothing. So mft loads the op itself, before DeepSpeed asks for it,
under a kernel lock (`flock`, released when its process dies, however it dies): one mft process
builds while the others wait, and a torch `lock` file that no live process holds open is stale and
removed, with a message. DeepSpeed then finds the op already loaded in the process.

Buffers. Each rank creates a 69 MB POSIX shared-memory buffer named after the master address, port
and rank, which the other ranks map while the process group starts, and which DeepSpeed never
unlinks: every run left 69 MB of RAM per rank in /dev/shm until reboot. Once every rank has mapped
every buffer, mft removes its own rank's name; the memory stays mapped and is freed by the kernel
when the last rank exits, cleanly or not.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time

logger = logging.getLogger(__name__)

STALE_AFTER_S = 5.0  # a fresh lock file may belong to a process between closing and deleting it


def lock_holders(path: str) -> list[int] | None:
    """Pids of the processes holding `path` open, from /proc; None where /proc cannot tell."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    target = os.path.realpath(path)
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to see
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    holders.append(int(pid))
                    break
            except OSError:
                continue
    return holders


def remove_stale_lock(path: str, *, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Delete a torch build `lock` file that no live process holds; True if one was removed."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    if age < stale_after_s or lock_holders(path) != []:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    return True


@contextlib.contextmanager
def exclusive(path: str):
    """Hold an exclusive flock on `path` (created if missing) for the block; the kernel drops it on death."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def load_comm_op() -> None:
    """Build (once per machine) and load DeepSpeed's shared-memory comm op, where its accelerator has one."""
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator
    from torch.utils.cpp_extension import _get_build_directory

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None or not deepspeed.ops.__compatible_ops__.get(builder.NAME, False):
        return  # DeepSpeed will not use it either
    folder = _get_build_directory(builder.name, verbose=False)
    with exclusive(os.path.join(folder, "mft.flock")):
        torch_lock = os.path.join(folder, "lock")
        if remove_stale_lock(torch_lock):
            logger.warning(f"mft: removed {torch_lock}, left by a process killed while building or loading "
                           f"DeepSpeed's {builder.name} op (every DeepSpeed start would have waited on it forever)")
        start = time.monotonic()
        builder.load()
        took = time.monotonic() - start
        if took > 5:
            logger.warning(f"mft: compiled DeepSpeed's {builder.name} op in {took:.0f} s "
                           f"(once per machine, cached in {folder})")


def shm_buffer_path(rank: int) -> str:
    """Where DeepSpeed's shm op keeps this job's buffer for `rank` (named as in its shm.cpp)."""
    addr, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    return f"/dev/shm/deepspeed_allreduce_buffer_{os.getuid()}_{addr}_{port}_{rank}"


def unlink_shm_buffer(rank: int) -> None:
    """Drop the name of this rank's buffer; call only after every rank has mapped every buffer."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(shm_buffer_path(rank))
