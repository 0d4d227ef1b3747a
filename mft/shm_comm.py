"""DeepSpeed's shared-memory all-reduce op on CPU: built safely once per environment, buffers never leaked.

Building. On CPU, DeepSpeed compiles its `deepspeed_shm_comm` op with g++ the first time a process
group starts (26-98 s here), through torch.utils.cpp_extension; mft says so in one line before the
compiler starts. torch keeps builds in ~/.cache/torch_extensions/py<version>_cpu, shared by every
environment with that Python, so a second virtual environment (another torch or DeepSpeed) would
reuse a build made against other headers or rebuild over it: inside a virtual environment mft
keeps them in <sys.prefix>/torch_extensions instead, unless $TORCH_EXTENSIONS_DIR says otherwise
(`extensions_root`). That build folder is guarded by a
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
import sys
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


def extensions_root() -> str | None:
    """Where this environment's C++ ops are built: $TORCH_EXTENSIONS_DIR; else, in a virtual
    environment whose folder is writable, <sys.prefix>/torch_extensions; else None (torch's default)."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return os.environ["TORCH_EXTENSIONS_DIR"]
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return os.path.join(sys.prefix, "torch_extensions")
    return None


def load_comm_op() -> None:
    """Build (once per environment) and load DeepSpeed's shared-memory comm op, where its accelerator has one."""
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator
    from torch.utils.cpp_extension import _get_build_directory

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None or not deepspeed.ops.__compatible_ops__.get(builder.NAME, False):
        return  # DeepSpeed will not use it either
    root = extensions_root()
    if root:  # torch reads it at each build or load, DeepSpeed's later ops (cpu_adam) included
        os.environ["TORCH_EXTENSIONS_DIR"] = root
    folder = _get_build_directory(builder.name, verbose=False)
    with exclusive(os.path.join(folder, "mft.flock")):
        torch_lock = os.path.join(folder, "lock")
        if remove_stale_lock(torch_lock):
            logger.warning(f"mft: removed {torch_lock}, left by a process killed while building or loading "
                           f"DeepSpeed's {builder.name} op (every DeepSpeed start would have waited on it forever)")
        if not os.path.exists(os.path.join(folder, f"{builder.name}.so")):
            logger.warning(f"mft: compiling DeepSpeed's {builder.name} op for this environment into {folder} "
                           "(once; about a minute, printing nothing)")
        start = time.monotonic()
        builder.load()
        took = time.monotonic() - start
        if took > 5:
            logger.warning(f"mft: compiled DeepSpeed's {builder.name} op in {took:.0f} s (cached in {folder})")


def shm_buffer_path(rank: int) -> str:
    """Where DeepSpeed's shm op keeps this job's buffer for `rank` (named as in its shm.cpp)."""
    addr, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    return f"/dev/shm/deepspeed_allreduce_buffer_{os.getuid()}_{addr}_{port}_{rank}"


def unlink_shm_buffer(rank: int) -> None:
    """Drop the name of this rank's buffer; call only after every rank has mapped every buffer."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(shm_buffer_path(rank))
