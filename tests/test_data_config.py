"""DataConfig.validate: every unusable value is a DataError naming its key."""

from __future__ import annotations

import pytest

from data_pipeline import DataConfig, DataError, TaskConfig


def task(name: str = "a", **kw) -> TaskConfig:
    kw.setdefault("valid_fraction", 0.1)
    return TaskConfig(name=name, train=[f"{name}.jsonl"], **kw)


def test_defaults_with_one_task_are_valid():
    cfg = DataConfig(tasks=[task()])
    assert (cfg.mode, cfg.seq_length, cfg.schema, cfg.on_bad_record) == ("padding", 512, "auto", "error")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "packed"}, "data.mode: 'packed' is not one of padding, pack; did you mean 'pack'?"),
        ({"schema": "xml"}, "data.schema: 'xml' is not one of auto, mftcoder, chat, plain"),
        ({"schema": "chats"}, "data.schema: 'chats' is not one of auto, mftcoder, chat, plain; did you mean 'chat'?"),
        ({"on_bad_record": "skipp"}, "data.on_bad_record: 'skipp' is not one of error, skip; did you mean 'skip'?"),
        ({"chat_template": "mine"}, "data.chat_template: 'mine' is not one of auto, default"),
        ({"seq_length": 1}, "data.seq_length: must be an integer >= 2, got 1"),
        ({"seq_length": 512.0}, "data.seq_length: must be an integer >= 2, got 512.0"),
        ({"valid_samples_per_task": 0}, "data.valid_samples_per_task: must be an integer >= 1, got 0"),
    ],
)
def test_bad_setting_names_key(kwargs, message):
    with pytest.raises(DataError) as err:
        DataConfig(tasks=[task()], **kwargs)
    assert str(err.value) == message


def test_no_tasks():
    with pytest.raises(DataError, match=r"^data.tasks: no tasks given"):
        DataConfig()


def test_task_errors_name_the_task_index():
    with pytest.raises(DataError, match=r"^data.tasks\[1\].valid_fraction: 1.5 is not in \[0, 1\)"):
        DataConfig(tasks=[task("a"), task("b", valid_fraction=1.5)])
    with pytest.raises(DataError, match=r"^data.tasks\[1\].name: duplicate task name 'a' \(also data.tasks\[0\]\)"):
        DataConfig(tasks=[task("a"), task("a")])
    with pytest.raises(DataError, match=r"^data.tasks\[0\]: task 'a' has no validation data; give valid files or a"):
        DataConfig(tasks=[task("a", valid_fraction=0.0)])
    with pytest.raises(DataError, match=r"^data.tasks\[0\].train: task 'a' lists no training files"):
        DataConfig(tasks=[TaskConfig(name="a", train=[], valid_fraction=0.1)])
    with pytest.raises(DataError, match=r"^data.tasks\[0\].valid_fraction: task 'a' has valid files and a valid_fraction"):
        DataConfig(tasks=[task("a", valid=["v.jsonl"], valid_fraction=0.1)])


def test_validate_rechecks_after_mutation():
    cfg = DataConfig(tasks=[task()])
    cfg.mode = "pack"
    cfg.validate()
    cfg.mode = "packing"
    with pytest.raises(DataError, match=r"^data.mode: 'packing'"):
        cfg.validate()
