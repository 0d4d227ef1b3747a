"""The one choice check with its hint (data_pipeline.choices) and the per-rank logging set-up."""
import logging
from dataclasses import dataclass, field

import pytest

from data_pipeline.choices import check_choices, choice_error, did_you_mean
from mft.logs import setup_logging
from mft.preflight import launch_rank


@dataclass
class _Section:
    mode: str = field(default="pack", metadata={"choices": ("padding", "pack")})
    free: str = "anything"


def test_did_you_mean_names_the_closest_option_or_nothing():
    assert did_you_mean("lrr", ["lr", "seed"], "training") == "; did you mean 'training.lr'?"
    assert did_you_mean("bf61", ["fp32", "bf16"]) == "; did you mean 'bf16'?"
    assert did_you_mean("zzz", ["fp32", "bf16"]) == ""


def test_choice_error_and_check_choices_give_one_line():
    assert choice_error("data.mode", "pack", ("padding", "pack")) is None
    assert choice_error("data.mode", "packing", ("padding", "pack")) == (
        "data.mode: 'packing' is not one of padding, pack; did you mean 'pack'?")
    check_choices(_Section(free="not checked"), "s")
    with pytest.raises(KeyError, match=r"s.mode: 'pad' is not one of padding, pack; did you mean 'padding'\?"):
        check_choices(_Section(mode="pad"), "s", KeyError)


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, levels = list(root.handlers), {n: logging.getLogger(n).level for n in ("mft", "data_pipeline", "eval")}
    yield
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _emit():
    logging.getLogger("mft.trainer").info("progress line")
    logging.getLogger("mft.weighting.coba").warning("replicated warning")
    logging.getLogger("mft.shm_comm").warning("rank's own warning")


@pytest.mark.usefixtures("restore_logging")
def test_rank_0_logs_everything_once_other_ranks_only_their_own_warnings(capsys):
    setup_logging(0)
    setup_logging(0)  # a second call replaces the handler, it does not add one
    _emit()
    assert capsys.readouterr().err.splitlines() == ["progress line", "replicated warning", "rank's own warning"]
    setup_logging(1)
    _emit()
    assert capsys.readouterr().err.splitlines() == ["[rank 1] rank's own warning"]


def test_launch_rank_reads_the_launcher_environment(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert launch_rank() == 0
    monkeypatch.setenv("RANK", "3")
    assert launch_rank() == 3
