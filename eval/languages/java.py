"""Java: compile Main.java, then ``java -ea Main``; a thrown AssertionError is a wrong answer.

Compiling is most of Java's cost: a fresh javac spends about half a second starting and warming
its JVM. By default each worker therefore keeps a compile server (`java_server/JavacServer.java`)
running as the worker's service user: it compiles in memory, with the same options as the
command line, and hands back the class files, which are written into the program's folder.
A server that times out is killed and replaced; one that crashes makes that program fall back to
the javac command (and after three crashes the runner stops using servers). With
``compile_server=False`` every program runs javac itself. Both JVMs start with flags that halve
start-up time without changing what a program computes: the serial collector, the client
compiler only, no perf-data file in /tmp, a 1 GB heap.
"""
from __future__ import annotations

import logging
import shutil
import struct
import threading
import weakref
from pathlib import Path

from ..sandbox import Limits, Sandbox, Service, StepResult
from ..toolchains import find_tool, missing_message
from .base import BASE_PATH, PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step, Verdict, tail

JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto", "-Xmx1g")
SERVER_SOURCE = Path(__file__).with_name("java_server") / "JavacServer.java"
SERVER_FLAGS = ("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx1g")  # long-lived: the full JIT pays off
SERVER_RESTART_EVERY = 1000  # compiles, to bound what a long-lived javac accumulates
SERVER_MAX_CRASHES = 3

log = logging.getLogger(__name__)


def _int(read) -> int:
    return struct.unpack(">i", read(4))[0]


def _read_reply(read) -> tuple[bool, dict[str, bytes], str]:
    ok = _int(read) == 1
    classes = {}
    for _ in range(_int(read)):
        name = read(_int(read)).decode()
        classes[name] = read(_int(read))
    return ok, classes, read(_int(read)).decode("utf-8", errors="replace")


def _compile_result(ok: bool | None, diagnostics: str, timed_out_after: float = 0.0) -> StepResult:
    """The compile server's answer as a step result (`ok` None: it timed out)."""
    return StepResult(
        argv=("javac-server",), exit_code=None if ok is None else 0 if ok else 1, signal=None,
        timed_out=ok is None, stdout="", stderr=diagnostics, stdout_bytes=0, stderr_bytes=len(diagnostics),
        wall_s=timed_out_after, cpu_s=None,
    )


class JavaRunner(Runner):
    name = "java"
    source_name = "Main.java"
    limits = Limits(memory_mb=6144, processes=256)  # the JVM reserves address space beyond its heap

    def __init__(self, compile_timeout_s: float = 60.0, timeout_s: float = 10.0, compile_server: bool = True):
        super().__init__()
        self.compile_timeout_s = compile_timeout_s
        self.timeout_s = timeout_s
        self.compile_server = compile_server
        self._servers: weakref.WeakKeyDictionary[Sandbox, tuple[Service, int]] = weakref.WeakKeyDictionary()
        self._servers_lock = threading.Lock()
        self._crashes = 0

    def toolchain_problem(self) -> str | None:
        missing = [tool for tool in ("javac", "java") if not find_tool(tool)]
        return missing_message("Java", missing) if missing else None

    def _server(self, sandbox: Sandbox) -> tuple[Service, int]:
        with self._servers_lock:
            entry = self._servers.get(sandbox)
        if entry is None or not entry[0].alive or entry[1] >= SERVER_RESTART_EVERY:
            if entry is not None:
                entry[0].stop()
            folder = sandbox.service_dir()
            shutil.copy(SERVER_SOURCE, folder / SERVER_SOURCE.name)
            env = {"PATH": BASE_PATH, "HOME": str(folder), "LANG": "C.UTF-8"}
            service = sandbox.spawn_service([find_tool("java") or "java", *SERVER_FLAGS, SERVER_SOURCE.name],
                                            cwd=folder, env=env, limits=self.limits)
            entry = (service, 0)
        with self._servers_lock:
            self._servers[sandbox] = (entry[0], entry[1] + 1)
        return entry

    def build(self, sandbox: Sandbox, workdir: Path) -> StepResult | None:
        """Compile with the worker's server; None (javac runs as a step instead) if that fails."""
        if not self.compile_server or self._crashes >= SERVER_MAX_CRASHES:
            return None
        source = (workdir / self.source_name).read_bytes()
        service, _ = self._server(sandbox)
        try:
            reply = service.request(struct.pack(">i", len(source)) + source, _read_reply, self.compile_timeout_s)
        except (EOFError, OSError) as exc:
            service.stop()
            self._crashes += 1
            if self._crashes >= SERVER_MAX_CRASHES:
                log.warning("eval: the Java compile server keeps failing (%s); using javac per program", exc)
            return None
        if reply is None:
            return _compile_result(None, "compilation timed out", self.compile_timeout_s)
        ok, classes, diagnostics = reply
        for name, data in classes.items():
            path = workdir / (name.replace(".", "/") + ".class")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sandbox.give(path)
        return _compile_result(ok, diagnostics)

    def steps(self, workdir: Path) -> list[Step]:
        java = (find_tool("java") or "java", "-ea", *JVM_FLAGS, "-cp", ".", "Main")
        if (workdir / "Main.class").exists():  # compiled by the server
            return [Step(java, self.timeout_s)]
        javac = (find_tool("javac") or "javac", *(f"-J{flag}" for flag in JVM_FLAGS),
                 "-encoding", "UTF-8", "-proc:none", "-nowarn", self.source_name)
        return [Step(javac, self.compile_timeout_s, compile=True), Step(java, self.timeout_s)]

    def judge(self, results: list[StepResult]) -> Verdict:
        run = results[-1]
        if run.ok:
            return Verdict(PASSED)
        if run.over_time:
            return Verdict(TIMEOUT, tail(run.output))
        if "java.lang.AssertionError" in run.stderr:
            return Verdict(WRONG_ANSWER, tail(run.stderr))
        return Verdict(RUNTIME_ERROR, tail(run.output) or f"exit code {run.exit_code}, signal {run.signal}")
