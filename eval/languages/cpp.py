"""C++: g++ -std=c++11 (the CodeGeeX harness's standard), then run; a failed assert is a wrong answer."""
from __future__ import annotations

import os
from pathlib import Path

from ..sandbox import StepResult
from ..toolchains import find_tool, missing_message
from .base import PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step, Verdict, tail

BOOST_HEADER = "/usr/include/boost/any.hpp"  # HumanEval-X C++ tasks 22 and 137
OPENSSL_HEADER = "/usr/include/openssl/md5.h"  # task 162


class CppRunner(Runner):
    name = "cpp"
    source_name = "main.cpp"

    def __init__(self, compile_timeout_s: float = 60.0, timeout_s: float = 10.0, std: str = "c++11"):
        super().__init__()
        self.compile_timeout_s = compile_timeout_s
        self.timeout_s = timeout_s
        self.std = std

    def toolchain_problem(self) -> str | None:
        missing = [what for what, ok in (
            ("g++", find_tool("g++")),
            ("libboost-dev", os.path.exists(BOOST_HEADER)),
            ("libssl-dev", os.path.exists(OPENSSL_HEADER)),
        ) if not ok]
        return missing_message("C++", missing) if missing else None

    def steps(self, workdir: Path) -> list[Step]:
        source = (workdir / self.source_name).read_text(encoding="utf-8")
        libs = ("-lcrypto", "-lssl") if "openssl/" in source else ()
        compile_cmd = (find_tool("g++") or "g++", f"-std={self.std}", self.source_name, "-o", "main", *libs)
        return [Step(compile_cmd, self.compile_timeout_s, compile=True), Step(("./main",), self.timeout_s)]

    def judge(self, results: list[StepResult]) -> Verdict:
        run = results[-1]
        if run.ok:
            return Verdict(PASSED)
        if run.over_time:
            return Verdict(TIMEOUT, tail(run.output))
        if "Assertion" in run.stderr and "failed" in run.stderr:
            return Verdict(WRONG_ANSWER, tail(run.stderr))
        return Verdict(RUNTIME_ERROR, tail(run.output) or f"exit code {run.exit_code}, signal {run.signal}")
