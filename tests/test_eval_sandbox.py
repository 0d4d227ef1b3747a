"""Hostile programs are contained, scored as failures, and the harness finishes.

Each case is a completion a model could write. The machine, the evaluator, other programs and
the results must come out unharmed. Full isolation (a user per worker, PID and network
namespaces) needs root, as on these machines and in CI; elsewhere those cases are skipped.
"""
from __future__ import annotations

import os
import socket
import time

import pytest

from eval.execution import Job, execute, execute_all
from eval.languages import PythonRunner
from eval.sandbox import Limits, SandboxPool, run_step
from eval.sandbox.users import SHARED_TMP_DIRS, processes_of

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops to per-worker users only when run as root")
TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def runner():
    return PythonRunner(timeout_s=TIMEOUT_S)


def run(pool, runner, source: str):
    start = time.monotonic()
    [(_, verdict)] = list(execute_all(pool, [Job(runner, source)]))
    return verdict, time.monotonic() - start


def sandbox_uids(pool) -> set[int]:
    return {s.user.uid for s in pool._free.queue if s.user is not None}


def test_a_correct_program_passes_and_a_wrong_one_fails(pool, runner):
    assert run(pool, runner, "def f():\n    return 1\nassert f() == 1\n")[0].kind == "passed"
    assert run(pool, runner, "def f():\n    return 2\nassert f() == 1\n")[0].kind == "wrong_answer"
    assert run(pool, runner, "def f(:\n")[0].kind == "compile_error"
    assert run(pool, runner, "import sys\nsys.exit(0)\nassert False\n")[0].kind == "runtime_error"  # no early exit
    assert run(pool, runner, "import os\nos._exit(0)\nassert False\n")[0].kind == "runtime_error"  # not even this way
    swapped = "import io, sys\nsys.stdout = io.StringIO()\nprint('kept to itself')\nassert 1 + 1 == 2\n"
    assert run(pool, runner, swapped)[0].kind == "passed"  # the pass line goes to the real stdout


def test_infinite_loop_times_out(pool, runner):
    verdict, took = run(pool, runner, "while True:\n    pass\n")
    assert verdict.kind == "timeout" and took < TIMEOUT_S + 3


def test_sleeping_forever_times_out(pool, runner):
    verdict, took = run(pool, runner, "import time\ntime.sleep(1000)\n")
    assert verdict.kind == "timeout" and took < TIMEOUT_S + 3


@needs_root
def test_fork_bomb_is_contained_and_leaves_nothing(pool, runner):
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    verdict, took = run(pool, runner, source)
    assert not verdict.passed and took < TIMEOUT_S + 5
    assert not processes_of(sandbox_uids(pool))  # every process of the bomb is gone


@needs_root
def test_escaped_background_process_is_killed(pool, runner):
    source = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "assert False\n"
    )
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "wrong_answer"
    assert not processes_of(sandbox_uids(pool))


def test_allocating_50_gb_fails(pool, runner):
    verdict, _ = run(pool, runner, "block = bytearray(50 * 2**30)\nblock[-1] = 1\n")
    assert verdict.kind == "runtime_error" and "MemoryError" in verdict.detail


@needs_root
def test_writing_outside_its_folder_fails_or_is_swept(pool, runner, tmp_path):
    protected = tmp_path / "results.jsonl"  # the evaluator's own file, say
    shared = f"/tmp/mft-eval-test-litter-{os.getpid()}"
    source = (
        "import os\n"
        f"for path in [{str(protected)!r}, {str(tmp_path / 'new.txt')!r}, '/etc/mft-eval-test', '../escape.txt']:\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path, type(exc).__name__)\n"
        f"open({shared!r}, 'w').write('litter')\n"
        "assert False, 'this completion never solves its task'\n"
    )
    protected.write_text("original")
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "wrong_answer"
    assert protected.read_text() == "original"
    assert not (tmp_path / "new.txt").exists() and not os.path.exists("/etc/mft-eval-test")
    assert not any(os.path.exists(os.path.join(d, os.path.basename(shared))) for d in SHARED_TMP_DIRS)
    assert not list(pool.base.glob("escape.txt"))


@needs_root
def test_deleting_files_in_home_fails(pool, runner, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "project").mkdir(parents=True)
    (home / "project" / "keep.txt").write_text("precious")
    monkeypatch.setenv("HOME", str(home))
    source = (
        "import os, shutil\n"
        "shutil.rmtree(os.path.expanduser('~'), ignore_errors=True)\n"  # the sandbox's own HOME
        f"shutil.rmtree({str(home)!r}, ignore_errors=True)\n"
        f"os.remove({str(home / 'project' / 'keep.txt')!r})\n"
    )
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "runtime_error" and "PermissionError" in verdict.detail
    assert (home / "project" / "keep.txt").read_text() == "precious"


def test_environment_variables_do_not_leak(pool, runner, monkeypatch):
    monkeypatch.setenv("MFT_TEST_SECRET", "s3cr3t-token")
    source = (
        "import os, sys\n"
        "sys.stderr.write(repr(dict(os.environ)) + '\\n')\n"
        f"for pid in ({os.getpid()}, 1):\n"
        "    try:\n"
        "        sys.stderr.write(open(f'/proc/{pid}/environ').read() + '\\n')\n"
        "    except OSError as exc:\n"
        "        sys.stderr.write(f'denied {pid} {type(exc).__name__}\\n')\n"
        "assert 'MFT_TEST_SECRET' in os.environ\n"
    )
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "wrong_answer"
    assert "s3cr3t-token" not in verdict.detail and "MFT_TEST_SECRET" in verdict.detail  # the source line only


@needs_root
def test_network_is_unreachable(pool, runner):
    if not pool.namespaces:
        pytest.skip("no network namespaces on this machine")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    source = (
        "import socket\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'results')\n"
    )
    try:
        verdict, _ = run(pool, runner, source)
        assert verdict.kind == "runtime_error" and "OSError" in verdict.detail
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    verdict, _ = run(pool, runner, "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n")
    assert verdict.kind == "runtime_error"


@needs_root
def test_signalling_the_evaluator_fails(pool, runner):
    verdict, _ = run(pool, runner, f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n")
    assert verdict.kind == "runtime_error"
    assert "PermissionError" in verdict.detail or "ProcessLookupError" in verdict.detail  # not even visible


def test_output_is_capped_and_stdin_is_closed(pool, tmp_path):
    sandbox = pool._free.queue[0]
    with sandbox.workdir() as wd:
        result = run_step(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; cat; echo rc=$? >&2"],
                          cwd=wd, env={"PATH": "/usr/bin:/bin"}, timeout_s=10, limits=Limits(output_kb=4),
                          user=sandbox.user, namespaces=sandbox.namespaces)
    assert result.stdout_bytes == 1_000_000 and len(result.stdout) < 5000 and "bytes left out" in result.stdout
    assert result.stderr.strip() == "rc=0"  # cat read an empty stdin


def test_many_programs_in_parallel(pool, runner):
    jobs = [Job(runner, f"assert {i} % 2 == 0\n") for i in range(8)]
    kinds = dict(execute_all(pool, jobs))
    assert [kinds[i].kind for i in range(8)] == ["passed", "wrong_answer"] * 4


def test_execute_uses_a_fresh_folder_each_time(pool, runner):
    sandbox = pool._free.queue[0]
    first = execute(sandbox, Job(runner, "open('marker', 'w').write('x')\n"))
    second = execute(sandbox, Job(runner, "import os\nassert not os.path.exists('marker')\n"))
    assert first.passed and second.passed


@needs_root
def test_two_pools_at_once_never_share_a_user(pool):
    with SandboxPool(2) as other:
        assert not sandbox_uids(other) & sandbox_uids(pool)
        assert len(sandbox_uids(other)) == 2


# ---- hostile programs beyond the basics (reliability) ---------------------------------------------

def _holders_of_secrets(tmp_path, monkeypatch):
    """A HOME with a credentials file, as the evaluator's user would have; returns the secret."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine hub login me password hunter2-secret\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MFT_TEST_TOKEN", "tok-visible-only-to-the-evaluator")
    return home


@needs_root
def test_reading_proc_and_the_home_folder_reveals_nothing(pool, runner, tmp_path, monkeypatch):
    home = _holders_of_secrets(tmp_path, monkeypatch)
    me = os.getpid()
    source = (
        "import glob, os, sys\n"
        f"paths = [{str(home / '.netrc')!r}, '/proc/{me}/environ', '/proc/{me}/cmdline', '/proc/{me}/cwd/x',\n"
        "         '/proc/1/environ', '/root/.bash_history'] + glob.glob('/proc/[0-9]*/environ')\n"
        "for path in paths:\n"
        "    try:\n"
        "        sys.stderr.write(path + ': ' + open(path, errors='replace').read(300) + '\\n')\n"
        "    except OSError as exc:\n"
        "        sys.stderr.write(path + ': ' + type(exc).__name__ + '\\n')\n"
        "assert False\n"
    )
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "wrong_answer"
    assert "hunter2-secret" not in verdict.detail and "tok-visible-only" not in verdict.detail
    assert "pytest" not in verdict.detail  # not even the evaluator's command line


def test_gigabytes_on_stdout_are_cut_off_and_kept_small(pool, runner):
    source = "import sys\nchunk = 'x' * 2**20\nfor _ in range(4 * 1024):\n    sys.stdout.write(chunk)\nassert False\n"
    verdict, took = run(pool, runner, source)
    assert not verdict.passed and took < TIMEOUT_S + 3
    assert len(verdict.detail) < 200_000  # the harness kept a head and a tail, not gigabytes


@needs_root
def test_symlinks_out_of_its_folder_change_nothing_outside(pool, runner, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    litter = [os.path.join(d, f"mft-eval-test-link-{os.getpid()}") for d in SHARED_TMP_DIRS]
    source = (
        "import os\n"
        f"os.symlink({str(outside)!r}, 'out')\n"
        "os.symlink('/', 'root')\n"
        f"os.symlink({str(outside / 'keep.txt')!r}, 'keep')\n"
        f"for link in {litter!r}:\n"  # links left where the sweeper cleans up after programs
        "    try:\n"
        f"        os.symlink({str(outside)!r}, link)\n"
        "    except OSError:\n"
        "        pass\n"
        "for path in ['keep', 'out/new.txt', 'root/etc/mft-eval-test']:\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "    except OSError:\n"
        "        pass\n"
        "assert False\n"
    )
    verdict, _ = run(pool, runner, source)
    assert verdict.kind == "wrong_answer"
    assert sorted(os.listdir(outside)) == ["keep.txt"] and (outside / "keep.txt").read_text() == "precious"
    assert not os.path.exists("/etc/mft-eval-test")
    assert not any(os.path.lexists(link) for link in litter)  # swept: removed, never followed


def test_sleeping_children_holding_its_output_do_not_stall_the_harness(pool, runner):
    source = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen(['sleep', '60'], stdout=sys.stdout, stderr=sys.stderr)\n"  # holds stdout and stderr
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"  # a child holding both ends of a pipe and the outputs
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "assert False\n"
    )
    verdict, took = run(pool, runner, source)
    assert verdict.kind == "wrong_answer" and took < TIMEOUT_S + 3
    if os.geteuid() == 0:
        assert not processes_of(sandbox_uids(pool))  # and both sleepers were killed


HOSTILE = {
    "infinite loop": "while True:\n    pass\n",
    "exit early": "import os\nos._exit(0)\n",
    "stdout flood": "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n",
    "memory": "block = bytearray(50 * 2**30)\n",
    "sleeping child": "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nassert False\n",
    "background process": "import subprocess\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\nassert False\n",
    "symlink to root": "import os\nos.symlink('/', 'root')\nopen('root/tmp/mft-eval-x', 'w')\nassert False\n",
    "read proc": "print(open('/proc/1/cmdline').read())\nassert False\n",
    "fork then raise": "import os\nos.fork()\nraise SystemExit(3)\n",
    "recursion": "def f():\n    return f()\nf()\n",
}


def test_hostile_batch_fails_every_program_and_scores_identically_twice(pool, runner):
    names = list(HOSTILE)
    jobs = [Job(runner, HOSTILE[name]) for name in names]
    first, second = (dict(execute_all(pool, jobs)) for _ in range(2))
    kinds = [(names[i], first[i].kind) for i in range(len(names))]
    assert kinds == [(names[i], second[i].kind) for i in range(len(names))]
    assert not [name for i, name in enumerate(names) if first[i].passed], kinds
    if os.geteuid() == 0:
        assert not processes_of(sandbox_uids(pool))
