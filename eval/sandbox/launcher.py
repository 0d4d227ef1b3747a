"""Privileged start of one sandboxed step. Run as its own interpreter, never imported:

    python -I -S launcher.py SPEC_JSON STATUS_FD -- PROGRAM [ARGS...]

The harness starts it in a new session with stdin closed, a scrubbed environment and stdout /
stderr going to capture files. It then, while still privileged,
1. unshares PID, network and IPC namespaces (when `namespaces` is set; run by a normal user, in
   a new user namespace that maps the user to itself): the program sees no network interface
   but a loopback that is down, and when the step ends the kernel kills every process it left
   behind, including ones that called setsid() or double-forked;
2. forks a small init (pid 1 of the new PID namespace) that reaps orphans, and
3. forks the program, which sets its resource limits, drops to the sandbox user (no groups, no
   new privileges, killed if its init dies), closes the status pipe and execs.
The init writes the program's exit status and resource usage as JSON to STATUS_FD, which the
program itself never holds, so it cannot forge its own verdict.

SPEC_JSON keys: uid, gid (null: stay the current user), rlimits {RLIMIT_*: [soft, hard]},
namespaces (bool).
"""
import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def _write_status(fd, status, close=True):
    """One JSON line; the init's line follows a failed exec's error line."""
    try:
        os.write(fd, json.dumps(status).encode() + b"\n")
    finally:
        if close:
            os.close(fd)


def _resolve(name):
    """The executable `name` on PATH, found while still privileged (nothing is imported later)."""
    if "/" in name:
        return name
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return name


def _exec_program(spec, status_fd, program, argv, libc):
    """In the program's process: limits, drop privileges, exec. Never returns."""
    try:
        os.setpgid(0, 0)
        for name, (soft, hard) in spec["rlimits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.umask(0o077)
        if spec.get("uid") is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
            if os.getuid() != spec["uid"] or os.geteuid() != spec["uid"]:
                raise OSError("could not drop privileges")
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
        os.set_inheritable(status_fd, False)  # closed by a successful exec, open to report a failed one
        os.execve(program, argv, os.environ)
    except BaseException as exc:  # report and leave; nothing of the program has run
        try:
            _write_status(status_fd, {"error": f"{type(exc).__name__}: {exc}"}, close=False)
        except OSError:
            pass
        os._exit(127)


def _run_init(spec, status_fd, program, argv, libc):
    """Pid 1 of the step's namespace: start the program, reap orphans, report its status."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # without namespaces, orphans still come here
    child = os.fork()
    if child == 0:
        _exec_program(spec, status_fd, program, argv, libc)
    while True:
        pid, status, usage = os.wait4(-1, 0)
        if pid != child:
            continue
        report = {
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
        }
        try:
            os.killpg(child, signal.SIGKILL)  # what is left of its process group (no-namespace mode)
        except OSError:
            pass
        try:
            _write_status(status_fd, report)
        except OSError:
            pass
        os._exit(0)  # as pid 1 of the namespace, this kills everything still inside it


def main():
    spec = json.loads(sys.argv[1])
    status_fd = int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the harness died: end the step too
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if spec.get("namespaces"):
        unprivileged = os.geteuid() != 0
        uid, gid = os.getuid(), os.getgid()
        flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWUSER if unprivileged else 0)
        if libc.unshare(flags) != 0:
            err = ctypes.get_errno()
            _write_status(status_fd, {"error": f"unshare: {os.strerror(err)}"})
            os._exit(125)
        if unprivileged:  # a user namespace in which we stay who we are (needed for the others)
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
    init = os.fork()
    if init == 0:
        _run_init(spec, status_fd, _resolve(argv[0]), argv, libc)
    os.close(status_fd)
    _, status = os.waitpid(init, 0)
    os._exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1)


if __name__ == "__main__":
    main()
