"""Each language: canonical solutions pass, and wrong completions fail for the right reason.

Reads the real sets where $MFT_BENCHMARK_DIR names them, else the fixture (tests/benchmark_data.py).
Needs the toolchains (`bash eval/toolchains/install.sh`); without them the tests skip, except in
CI where a missing toolchain fails.
"""
from __future__ import annotations

import pytest

from benchmark_data import DATA, REAL
from eval.benchmarks import load_suites
from eval.execution import Job, execute_all
from eval.sandbox import SandboxPool
from eval_helpers import runner_or_skip

# real sets, problems per language: the first few, plus those that need boost, openssl, js-md5 or
# crypto/md5; the fixture's three problems per language cover openssl, js-md5 and crypto/md5
REAL_CANONICAL = {
    "python": (0, 1, 2, 53),
    "cpp": (0, 1, 22, 137, 162),
    "java": (0, 1, 2),
    "js": (0, 1, 162),
    "go": (0, 1, 162),
}
CANONICAL = REAL_CANONICAL if REAL else {language: (0, 1, 2) for language in REAL_CANONICAL}
# completions of problem 0 (has_close_elements) that fail in a known way
WRONG = {
    "python": {
        "compile_error": "    return (\n",
        "wrong_answer": "    return False\n",
        "runtime_error": "    return 1 / 0\n",
        "timeout": "    while True:\n        pass\n",
    },
    "cpp": {
        "compile_error": "    return undefined_name;\n}\n",
        "wrong_answer": "    return false;\n}\n",
        "runtime_error": "    vector<int> v;\n    return v.at(5) == 1;\n}\n",
        "timeout": "    volatile long x = 0;\n    while (true) { x++; }\n}\n",
    },
    "java": {
        "compile_error": "        return undefinedName;\n    }\n}\n",
        "wrong_answer": "        return false;\n    }\n}\n",
        "runtime_error": "        Object o = null;\n        return o.hashCode() == 1;\n    }\n}\n",
        "timeout": "        while (true) {}\n    }\n}\n",
    },
    "js": {
        "compile_error": "  return )(;\n}\n",
        "wrong_answer": "  return false\n}\n",
        "runtime_error": "  return null.x\n}\n",
        "timeout": "  while (true) {}\n}\n",
    },
    "go": {
        "compile_error": "    return undefinedName\n}\n",
        "wrong_answer": "    return false\n}\n",
        "runtime_error": "    var m map[string]int\n    m[\"a\"] = 1\n    return false\n}\n",
        "timeout": "    for {\n    }\n}\n",
    },
}
SHORT_TIMEOUTS = {
    "python": {"timeout_s": 3},
    "cpp": {"timeout_s": 3},
    "java": {"timeout_s": 4},
    "js": {"timeout_s": 3},
    "go": {"test_timeout_s": 3},
}


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2) as pool:
        yield pool


@pytest.mark.parametrize("language", list(CANONICAL))
def test_canonical_solutions_pass(pool, language):
    runner = runner_or_skip(language, **SHORT_TIMEOUTS[language])
    suite = load_suites(["humaneval-x"], data_dir=DATA, languages=[language])[0]
    problems = [suite.problems[i] for i in CANONICAL[language]]
    jobs = [Job(runner, suite.assemble(p, p.reference)) for p in problems]
    verdicts = dict(execute_all(pool, jobs))
    failed = {problems[i].task_id: v.detail[-300:] for i, v in verdicts.items() if not v.passed}
    assert not failed


@pytest.mark.parametrize("language", list(WRONG))
def test_wrong_completions_fail_for_the_right_reason(pool, language):
    runner = runner_or_skip(language, **SHORT_TIMEOUTS[language])
    suite = load_suites(["humaneval-x"], data_dir=DATA, languages=[language])[0]
    problem = suite.problems[0]
    kinds = list(WRONG[language])
    jobs = [Job(runner, suite.assemble(problem, WRONG[language][k])) for k in kinds]
    verdicts = dict(execute_all(pool, jobs))
    assert {k: verdicts[i].kind for i, k in enumerate(kinds)} == {k: k for k in kinds}


EARLY_EXIT = {"python": "    import os\n    os._exit(0)\n", "js": "  process.exit(0)\n}\n"}


@pytest.mark.parametrize("language", list(EARLY_EXIT))
def test_ending_the_process_with_status_0_before_the_tests_fails(pool, language):
    """The driver's pass line comes only after the program's last line (C++ and Java: see docs)."""
    runner = runner_or_skip(language, **SHORT_TIMEOUTS[language])
    suite = load_suites(["humaneval-x"], data_dir=DATA, languages=[language])[0]
    problem = suite.problems[0]
    [(_, verdict)] = list(execute_all(pool, [Job(runner, suite.assemble(problem, EARLY_EXIT[language]))]))
    assert verdict.kind == "runtime_error" and "before its tests finished" in verdict.detail


def test_javascript_reference_errors_are_reported(pool):
    """A program that only console.assert's stderr shows wrong is a wrong answer: problem 0 answered
    with the comma operator's mistake (`return (true, false)`), and in the real sets the reference
    solutions of JavaScript/112 and /155, which are wrong that way."""
    runner = runner_or_skip("js")
    suite = load_suites(["humaneval-x"], data_dir=DATA, languages=["js"])[0]
    sources = [suite.assemble(suite.problems[0], "  return (true, false)\n}\n")]
    if REAL:
        sources += [suite.assemble(p, p.reference) for p in (suite.problem("JavaScript/112"), suite.problem("JavaScript/155"))]
    verdicts = dict(execute_all(pool, [Job(runner, source) for source in sources]))
    assert [verdicts[i].kind for i in range(len(sources))] == ["wrong_answer"] * len(sources)
    assert "Assertion failed" in verdicts[0].detail


def test_humaneval_and_mbpp_references_pass(pool):
    runner = runner_or_skip("python")
    jobs = []
    for suite in load_suites(["humaneval", "mbpp"], data_dir=DATA):
        # a problem with test_setup_code (MBPP/367; the fixture's MBPP/13) needs it after the solution
        with_setup = tuple(p for p in suite.problems if p.record.get("test_setup_code"))[:1]
        chosen = suite.problems[:3] + with_setup
        assert suite.benchmark != "mbpp" or with_setup
        jobs += [Job(runner, suite.assemble(p, p.reference)) for p in chosen]
    assert all(v.passed for _, v in execute_all(pool, jobs))


def test_java_without_the_compile_server_agrees(pool):
    """The javac command (the fallback) and the compile server give the same verdicts."""
    runner_or_skip("java")
    from eval.languages import JavaRunner

    runner = JavaRunner(timeout_s=4, compile_server=False)
    suite = load_suites(["humaneval-x"], data_dir=DATA, languages=["java"])[0]
    problem = suite.problems[0]
    sources = [suite.assemble(problem, problem.reference)]
    sources += [suite.assemble(problem, WRONG["java"][k]) for k in ("compile_error", "wrong_answer")]
    verdicts = dict(execute_all(pool, [Job(runner, s) for s in sources]))
    assert [verdicts[i].kind for i in range(3)] == ["passed", "compile_error", "wrong_answer"]
