"""JavaScript: node runs test.js through a small driver; any output on stderr (console.assert
writes there) is a failure.

This is the HumanEval-X rule: console.assert does not throw, so a failed check shows only as
stderr output. The npm package js-md5 (task 162) is found through NODE_PATH. The driver
`require`s the program (as node runs a script, but for `require.main`) and, once the program's
top level has run to its end and the process exits with 0, prints the run's pass nonce (see
`write_pass_nonce`): a program that calls `process.exit(0)` before its tests does not pass.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..sandbox import Sandbox, StepResult
from ..toolchains import find_tool, missing_message, node_module_dirs
from .base import (COMPILE_ERROR, EARLY_EXIT, PASS_FILE, PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step,
                   Verdict, pass_digest, printed_pass, tail, write_pass_nonce)


DRIVER = f"""const fs = require("fs");
const path = require("path");
const nonce = fs.readFileSync("{PASS_FILE}", "utf8");
fs.unlinkSync("{PASS_FILE}");
let finished = false;
process.on("exit", (code) => {{
  if (finished && code === 0) fs.writeSync(1, "\\n" + nonce + "\\n");
}});
require(path.resolve(process.argv[2]));
finished = true;
"""


class JavaScriptRunner(Runner):
    name = "js"
    source_name = "test.js"

    def __init__(self, timeout_s: float = 10.0):
        super().__init__()
        self.timeout_s = timeout_s

    def toolchain_problem(self) -> str | None:
        missing = [] if find_tool("node") else ["node"]
        if not any(os.path.isfile(os.path.join(d, "js-md5", "package.json")) for d in node_module_dirs()):
            missing.append("npm package js-md5")
        return missing_message("JavaScript", missing) if missing else None

    def env(self, workdir: Path) -> dict[str, str]:
        return {**super().env(workdir), "NODE_PATH": os.pathsep.join(node_module_dirs())}

    def write_program(self, sandbox: Sandbox, workdir: Path, source: str) -> None:
        super().write_program(sandbox, workdir, source)
        (workdir / "driver.js").write_text(DRIVER)
        write_pass_nonce(sandbox, workdir)

    def steps(self, workdir: Path) -> list[Step]:
        return [Step((find_tool("node") or "node", "driver.js", self.source_name, pass_digest(workdir)), self.timeout_s)]

    def judge(self, results: list[StepResult]) -> Verdict:
        run = results[-1]
        if run.ok and run.stderr_bytes == 0 and printed_pass(run):
            return Verdict(PASSED)
        if run.ok and run.stderr_bytes == 0:
            return Verdict(RUNTIME_ERROR, EARLY_EXIT)
        if run.over_time:
            return Verdict(TIMEOUT, tail(run.output))
        err = run.stderr
        if "SyntaxError" in err and ("wrapSafe" in err or "internalCompileFunction" in err):
            return Verdict(COMPILE_ERROR, tail(err))  # thrown while loading the file, before it ran
        if "Assertion failed" in err:
            return Verdict(WRONG_ANSWER, tail(err))
        return Verdict(RUNTIME_ERROR, tail(err) or f"exit code {run.exit_code}, signal {run.signal}")
