"""benchmarks/gpu_check.sh's pieces that run anywhere: tests/gpu collects on a machine without a
GPU, and a skipped GPU test is listed and fails the check unless its reason is allowed."""
import re
import subprocess
import sys

from launch_helpers import ROOT, checkout_env, load_script

REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.gpu.test_cuda" name="test_zero3" time="9.1"/>
<testcase classname="tests.gpu.test_cuda" name="test_qlora" time="0.0">
  <skipped type="pytest.skip" message="could not import 'bitsandbytes'">skip</skipped></testcase>
<testcase classname="tests.gpu.test_packed_attention" name="test_flash" time="0.0">
  <skipped type="pytest.skip" message="flash-attn is not installed">skip</skipped></testcase>
</testsuite></testsuites>"""


def test_gpu_tests_collect_without_a_gpu():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/gpu", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=checkout_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = re.search(r"(\d+) tests collected", proc.stdout)
    assert collected and int(collected.group(1)) >= 8 and "error" not in proc.stdout.lower(), proc.stdout[-3000:]


def test_skips_are_listed_and_an_unexpected_one_fails(tmp_path, capsys):
    skipped_tests = load_script("skipped_tests", "benchmarks")
    report = tmp_path / "report.xml"
    report.write_text(REPORT)
    assert skipped_tests.main([str(report), "--allowed", "flash-attn is not installed"]) == 1
    out = capsys.readouterr().out
    assert "skipped 2 of 3 tests" in out
    assert "UNEXPECTED tests.gpu.test_cuda::test_qlora: could not import 'bitsandbytes'" in out
    assert "  tests.gpu.test_packed_attention::test_flash: flash-attn is not installed" in out
    assert skipped_tests.main([str(report), "--allowed", "flash-attn|bitsandbytes"]) == 0
    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    assert skipped_tests.main([str(empty)]) == 1  # nothing ran: no evidence either
