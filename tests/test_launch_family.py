"""The launch scripts are one family: the same error line, defaults in --help, the same names;
launch/reproduce.py checks what would stop it after training before the first run."""
from __future__ import annotations

import subprocess
import sys

import pytest

from launch_helpers import ROOT, checkout_env, load_script
from mft.config_loader import apply_override

SCRIPTS = ("train", "evaluate", "reproduce", "export", "make_demo_data", "make_finetune_data", "prepare_data",
           "pretrain_base")
COMPARE = f"{ROOT}/configs/compare_cpu.json"


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"{ROOT}/launch/{name}.py", *args], capture_output=True, text=True,
                          env=checkout_env(), timeout=300)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_has_help_and_the_same_error_line(name):
    help_text = script(name, "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: launch/"), help_text.stderr[-2000:]
    assert "    python launch/" in help_text.stdout or name in ("make_demo_data", "make_finetune_data")  # the commands
    wrong = script(name, "--no-such-option")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines()[-1].startswith("mft: error: "), wrong.stderr


def test_help_shows_defaults():
    assert "(default: 2)" in " ".join(script("reproduce", "--help").stdout.split())  # --ranks
    evaluate = " ".join(script("evaluate", "--help").stdout.split())  # unwrapped
    assert "(default: 512)" in evaluate and "(default: 0.95)" in evaluate and "(default: outputs/eval)" in evaluate


def test_list_items_may_be_set_in_the_form_errors_print():
    raw = {"data": {"tasks": [{"train": "a"}, {"train": "b"}]}}
    apply_override(raw, "data.tasks[1].train=c")
    apply_override(raw, "data.tasks.0.train=d")
    assert raw == {"data": {"tasks": [{"train": "d"}, {"train": "c"}]}}


def test_reproduce_refuses_a_config_without_test_files_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    code = load_script("reproduce").main(["--config", f"{ROOT}/configs/demo_cpu.json", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert err.startswith("mft: error: data.tasks[0].test: task 'copy' has no test files") and "\n" not in err


@pytest.mark.parametrize("override, expected", [
    ("training.lrr=1", "training.lrr: not a valid key; did you mean 'training.lr'?"),
    ('reproduce.overrides={"coba": {"weighting.valid_batchez": 2}}', "method coba: weighting.valid_batchez: not a valid key"),
    ("data.tasks[0].test=missing.jsonl", "missing.jsonl: file not found; fix data.tasks[0].test[0]"),
    ('reproduce.benchmarks=["humaneval"]', "no benchmark folder"),
])
def test_reproduce_mistakes_are_one_line_before_anything_trains(tmp_path, capsys, monkeypatch, override, expected):
    monkeypatch.delenv("MFT_BENCHMARK_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    out = tmp_path / "out"
    code = load_script("reproduce").main(["--config", COMPARE, "--out", str(out), "--methods", "uniform,coba",
                                          "--set", override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists() and "Traceback" not in err
    assert err.startswith("mft: error: ") and expected in err and "\n" not in err


def test_renamed_options_keep_their_old_names_with_a_warning(tmp_path, capsys):
    reproduce = load_script("reproduce")
    args = reproduce.parse_args(["--config", COMPARE, "--out", "x", "--seeds", "3", "--benchmark-limit", "5"])
    assert (args.num_seeds, args.limit) == (3, 5)
    err = capsys.readouterr().err
    assert "--seeds is deprecated; use --num-seeds" in err and "--benchmark-limit is deprecated; use --limit" in err
    assert "--seeds" not in script("reproduce", "--help").stdout
