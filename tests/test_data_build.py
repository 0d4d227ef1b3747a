"""build_datasets: splits, statistics, every bad-input message, skip mode, workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_pipeline import DataConfig, DataError, TaskConfig, build_datasets
from data_pipeline.build import check_files
from data_pipeline.records import BadRecord, read_jsonl

try:
    from .data_fixtures import one_task_cfg, qa, spm_dir, tokenizer, write_jsonl  # noqa: F401
except ImportError:
    from data_fixtures import one_task_cfg, qa, spm_dir, tokenizer, write_jsonl  # noqa: F401

SKIP_FIX = 'fix the record or set data.on_bad_record="skip"'


def sample_keys(split) -> list[bytes]:
    return [split[i][0].tobytes() for i in range(len(split))]


def quiet(_: str) -> None:
    pass


def test_two_tasks_split_ids_and_stats(tmp_path: Path, tokenizer):
    code = write_jsonl(tmp_path / "code.jsonl", [qa(i) for i in range(20)])
    chat = write_jsonl(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "x = 1"}]} for i in range(6)],
    )
    chat_valid = write_jsonl(tmp_path / "chat_valid.jsonl", [{"prompt": "v", "completion": "y = 2"}] * 3)
    cfg = DataConfig(
        tasks=[TaskConfig("code", [code], valid_fraction=0.25), TaskConfig("chat", [chat], valid=[chat_valid])],
        seq_length=64,
    )
    data = build_datasets(cfg, tokenizer, log=quiet)
    assert data.task_names == ["code", "chat"] and not data.from_cache
    assert len(data.train) == 15 + 6 and len(data.valid) == 5 + 3
    assert data.train.task_ids.tolist() == [0] * 15 + [1] * 6
    assert data.valid.task_ids.tolist() == [0] * 5 + [1] * 3
    assert data.train.indices_of_task(1).tolist() == list(range(15, 21))
    assert data.stats["code"]["records"] == 20 and data.stats["chat"]["records"] == 9
    assert (data.stats["code"]["train_samples"], data.stats["code"]["valid_samples"]) == (15, 5)
    assert data.stats["chat"]["train_tokens"] == int(data.train.lengths[15:].sum())
    chat_valid_start = int(data.valid.offsets[5])
    assert data.stats["chat"]["valid_loss_tokens"] == int(np.asarray(data.valid.loss_mask)[chat_valid_start:].sum()) > 0
    for split in (data.train, data.valid):
        for i in range(len(split)):
            token_ids, mask, _ = split[i]
            assert token_ids.dtype == np.int32 and mask.dtype == np.uint8
            assert token_ids[0] == tokenizer.bos_token_id and token_ids[-1] == tokenizer.eos_token_id
            assert mask[-1] == 1 and mask[0] == 0  # answer + EOS learned, prompt not
    valid_answers = {tokenizer.decode(data.valid[i][0]) for i in range(5, 8)}
    assert valid_answers == {"<s><|user|>\nv\n<|assistant|>\ny = 2</s>"}


def test_valid_fraction_is_seeded_disjoint_and_complete(tmp_path: Path, tokenizer):
    path = write_jsonl(tmp_path / "a.jsonl", [qa(i) for i in range(40)])
    everything = build_datasets(one_task_cfg([path], valid=[path]), tokenizer, log=quiet).train
    first = build_datasets(one_task_cfg([path], split_seed=1), tokenizer, log=quiet)
    again = build_datasets(one_task_cfg([path], split_seed=1), tokenizer, log=quiet)
    other = build_datasets(one_task_cfg([path], split_seed=2), tokenizer, log=quiet)
    train, valid = sample_keys(first.train), sample_keys(first.valid)
    assert len(valid) == 10 and not set(train) & set(valid)
    assert sorted(train + valid) == sorted(sample_keys(everything))
    assert sample_keys(again.valid) == valid
    assert sample_keys(other.valid) != valid


def test_workers_give_identical_results(tmp_path: Path, tokenizer):
    records = [qa(i, words=i % 7) for i in range(600)]  # several chunks
    records[17] = "{broken"
    records[400] = {"prompt": "only a question"}
    path = write_jsonl(tmp_path / "a.jsonl", records)
    cfg = one_task_cfg([path], on_bad_record="skip", seq_length=64)
    one = build_datasets(cfg, tokenizer, num_workers=1, log=quiet)
    two = build_datasets(cfg, tokenizer, num_workers=2, log=quiet)
    for a, b in ((one.train, two.train), (one.valid, two.valid)):
        for name in ("tokens", "loss_mask", "offsets", "lengths", "task_ids"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert one.stats == two.stats
    assert one.stats["t"]["skipped"] == {"invalid_json": 1, "no_answer": 1}


def bad_case(tmp_path: Path, lines: list, tok, **kw) -> str:
    path = write_jsonl(tmp_path / "bad.jsonl", [qa(0)] + lines + [qa(1)])
    with pytest.raises(DataError) as err:
        build_datasets(one_task_cfg([path], **kw), tok, log=quiet)
    message = str(err.value)
    assert "\n" not in message
    return message.replace(path, "PATH")


@pytest.mark.parametrize(
    "line, expected",
    [
        ('{"prompt": "a", ', "PATH:2: invalid JSON (Expecting property name enclosed in double quotes at column 17)"),
        ("[1, 2]", "PATH:2: line is a JSON array, not an object"),
        ({"chat_rounds": {"role": "bot"}}, "PATH:2: 'chat_rounds' is not a list (got a JSON object)"),
        ({"chat_rounds": [{"role": None, "content": "x"}]}, "PATH:2: chat_rounds[0].role is not a string (got a JSON null)"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "PATH:2: messages[0].role 'tool' is not one of system, user, assistant"),
        ({"messages": [{"role": "assistant", "content": ["x"]}]}, "PATH:2: messages[0].content is not a string (got a JSON array)"),
        ({"chat_rounds": [{"role": "human", "content": "x"}]}, "PATH:2: record has no answer turn (bot/assistant/completion)"),
        ({"input": "x", "output": "y"}, "PATH:2: record has none of the keys chat_rounds, messages, prompt/completion"),
    ],
)
def test_bad_record_message_names_file_line_and_fix(tmp_path: Path, tokenizer, line, expected):
    message = bad_case(tmp_path, [line], tok=tokenizer)
    assert message.startswith(expected)
    assert message.endswith(SKIP_FIX)


def test_invalid_utf8_names_the_line(tmp_path: Path, tokenizer):
    path = tmp_path / "bytes.jsonl"
    write_jsonl(path, [qa(0), qa(1)])
    with open(path, "ab") as handle:
        handle.write(b'{"prompt": "caf\xe9", "completion": "x"}\n')
    with pytest.raises(DataError) as err:
        build_datasets(one_task_cfg([str(path)]), tokenizer, log=quiet)
    assert str(err.value) == f"{path}:3: line is not valid UTF-8 (byte 0xe9 at byte 16); {SKIP_FIX}"


def test_too_long_sample_says_length_limit_and_fix(tmp_path: Path, tokenizer):
    message = bad_case(tmp_path, [qa(5, words=40)], tok=tokenizer, seq_length=40)
    length = int(message.split("sample is ")[1].split(" ")[0])
    assert length > 40
    assert message == f'PATH:2: sample is {length} tokens, longer than data.seq_length=40; raise data.seq_length or set data.on_bad_record="skip"'


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_empty_file_is_an_error_even_with_skip(tmp_path: Path, tokenizer, policy):
    empty = write_jsonl(tmp_path / "empty.jsonl", ["", "   "])
    with pytest.raises(DataError) as err:
        build_datasets(one_task_cfg([empty], on_bad_record=policy), tokenizer, log=quiet)
    assert str(err.value) == f"{empty}: file is empty (no records); add JSONL records or remove it from data.tasks[0].train[0]"


def test_check_files_finds_empty_and_missing_files_without_a_tokenizer(tmp_path: Path):
    good = write_jsonl(tmp_path / "a.jsonl", [qa(0)])
    bom_only = tmp_path / "bom.jsonl"
    bom_only.write_bytes(b"\xef\xbb\xbf\n  \n")
    with pytest.raises(DataError, match=r"bom.jsonl: file is empty \(no records\); .* data.tasks\[0\].valid\[0\]$"):
        check_files(one_task_cfg([good], valid=[str(bom_only)]))
    with pytest.raises(DataError, match=r"is a directory, not a JSONL file; fix data.tasks\[0\].train\[1\]"):
        check_files(one_task_cfg([good, str(tmp_path)]))
    bom_record = tmp_path / "bom_record.jsonl"
    bom_record.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "a.jsonl").read_bytes())
    check_files(one_task_cfg([good, str(bom_record)]))


def test_all_records_skipped_is_an_error(tmp_path: Path, tokenizer):
    path = write_jsonl(tmp_path / "junk.jsonl", ["nope", "[]"])
    with pytest.raises(DataError) as err:
        build_datasets(one_task_cfg([path], on_bad_record="skip"), tokenizer, log=quiet)
    assert str(err.value) == (
        f"{path}: no usable records, all 2 were skipped (1 invalid_json, 1 not_object); "
        "fix the records or remove the file from data.tasks[0].train[0]"
    )


def test_missing_file_names_file_and_key(tmp_path: Path, tokenizer):
    good = write_jsonl(tmp_path / "a.jsonl", [qa(0), qa(1)])
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(DataError) as err:
        build_datasets(one_task_cfg([good], valid=[missing]), tokenizer, log=quiet)
    assert str(err.value) == f"{missing}: file not found; fix data.tasks[0].valid[0] (task 't')"


def test_too_few_records_for_valid_fraction(tmp_path: Path, tokenizer):
    path = write_jsonl(tmp_path / "a.jsonl", [qa(0)])
    with pytest.raises(DataError, match=r"^data.tasks\[0\].valid_fraction: task 't' has 1 usable training record"):
        build_datasets(one_task_cfg([path]), tokenizer, log=quiet)


def test_skip_mode_counts_per_file_and_reason_and_logs_one_line(tmp_path: Path, tokenizer):
    a = write_jsonl(tmp_path / "a.jsonl", [qa(0), "{", qa(1), "[]", qa(2, words=50), qa(3)])
    b = write_jsonl(tmp_path / "b.jsonl", [qa(4), {"prompt": "no answer"}, qa(5)])
    with open(b, "ab") as handle:
        handle.write(b"\xff\n")
    logged: list[str] = []
    cfg = DataConfig(tasks=[TaskConfig("t", [a, b], valid_fraction=0.2)], on_bad_record="skip", seq_length=48)
    data = build_datasets(cfg, tokenizer, log=logged.append)
    stats = data.stats["t"]
    assert stats["records"] == 10
    assert stats["skipped"] == {"invalid_json": 1, "invalid_utf8": 1, "no_answer": 1, "not_object": 1, "too_long": 1}
    assert stats["skipped_by_file"] == {
        a: {"invalid_json": 1, "not_object": 1, "too_long": 1},
        b: {"invalid_utf8": 1, "no_answer": 1},
    }
    assert stats["train_samples"] + stats["valid_samples"] == 5 == len(data.train) + len(data.valid)
    skip_lines = [line for line in logged if "skipped" in line]
    assert len(skip_lines) == 1 and "\n" not in skip_lines[0]
    assert skip_lines[0].startswith("data: skipped 5 bad record(s): ") and a in skip_lines[0] and b in skip_lines[0]
    assert f"(at {a}:2, {a}:4, {a}:5)" in skip_lines[0] and f"(at {b}:2, {b}:4)" in skip_lines[0]


def test_skipped_lines_are_capped_and_a_cached_entry_names_this_configs_files(tmp_path: Path, tokenizer):
    """Cache entries are keyed by content: the same records elsewhere hit the entry, and the
    summary then names the files where this config has them, not where they were first read."""
    lines = [qa(0), "{", "{", qa(1), {"prompt": "x", "completion": ""}, "{", qa(2), qa(3)]
    first = write_jsonl(tmp_path / "first" / "a.jsonl", lines)
    moved = write_jsonl(tmp_path / "moved" / "a.jsonl", lines)
    logs: list[list[str]] = []
    for path in (first, moved):
        logs.append([])
        cfg = DataConfig(tasks=[TaskConfig("t", [path], valid_fraction=0.25)], on_bad_record="skip")
        data = build_datasets(cfg, tokenizer, cache_dir=str(tmp_path / "cache"), log=logs[-1].append)
    assert data.from_cache and data.stats["t"]["skipped_lines"] == {moved: [2, 3, 5]}
    assert data.stats["t"]["skipped"] == {"empty_answer": 1, "invalid_json": 3}
    assert f"(at {first}:2, {first}:3, {first}:5, ...)" in logs[0][-1]
    assert f"(at {moved}:2, {moved}:3, {moved}:5, ...)" in logs[1][-1] and str(first) not in logs[1][-1]


def test_utf8_bom_and_blank_lines_are_accepted(tmp_path: Path, tokenizer):
    path = tmp_path / "bom.jsonl"
    write_jsonl(path, [qa(0), "", qa(1), qa(2)])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = build_datasets(one_task_cfg([str(path)]), tokenizer, log=quiet)
    assert len(data.train) + len(data.valid) == 3


def test_read_jsonl_numbers_every_line_and_keeps_every_record(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\n  \nnull\n{"a": \n"\xff"\n\x1e[2]\n{"b": "\xe2\x80\xa8"}')
    read = [(n, (v.reason, v.detail) if isinstance(v, BadRecord) else v) for n, v in read_jsonl(str(path))]
    assert read == [
        (1, {"a": 1}),
        (4, None),  # kept: the pipeline reports it as "not an object"
        (5, ("invalid_json", "invalid JSON (Expecting value at column 7)")),
        (6, ("invalid_utf8", "line is not valid UTF-8 (byte 0xff at byte 2)")),
        (7, [2]),
        (8, {"b": "\u2028"}),
    ]
