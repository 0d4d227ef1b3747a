"""The on-disk cache: hits skip tokenization, any change of input makes a new key, writes are atomic."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import data_pipeline.encode
import data_pipeline.storage
from data_pipeline import build_datasets

try:
    from .data_fixtures import one_task_cfg, qa, spm_dir, tokenizer, write_jsonl  # noqa: F401
except ImportError:
    from data_fixtures import one_task_cfg, qa, spm_dir, tokenizer, write_jsonl  # noqa: F401


def quiet(_: str) -> None:
    pass


def visible_entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) if cache.exists() else []


@pytest.fixture
def count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Encoder.encode calls (tokenization of one record)."""
    calls = [0]
    original = data_pipeline.encode.Encoder.encode

    def counting(self, turns):
        calls[0] += 1
        return original(self, turns)

    monkeypatch.setattr(data_pipeline.encode.Encoder, "encode", counting)
    return calls


def test_second_build_loads_without_tokenizing(tmp_path: Path, tokenizer, count_encodes):
    path = write_jsonl(tmp_path / "a.jsonl", [qa(i) for i in range(12)])
    cfg = one_task_cfg([path], cache_dir=str(tmp_path / "cache"))
    first = build_datasets(cfg, tokenizer, log=quiet)
    assert count_encodes[0] == 12 and not first.from_cache
    logged: list[str] = []
    second = build_datasets(cfg, tokenizer, log=logged.append)
    assert count_encodes[0] == 12 and second.from_cache
    assert second.cache_path == first.cache_path and "loaded from cache" in logged[0]
    assert isinstance(second.train.tokens, np.memmap)
    for name in ("tokens", "loss_mask", "offsets", "lengths", "task_ids"):
        assert np.array_equal(getattr(first.train, name), getattr(second.train, name))
        assert np.array_equal(getattr(first.valid, name), getattr(second.valid, name))
    assert second.stats == first.stats and second.task_names == first.task_names
    assert visible_entries(tmp_path / "cache") == [Path(first.cache_path).name]


def test_cache_dir_argument_overrides_config(tmp_path: Path, tokenizer):
    path = write_jsonl(tmp_path / "a.jsonl", [qa(i) for i in range(8)])
    data = build_datasets(one_task_cfg([path]), tokenizer, cache_dir=str(tmp_path / "arg"), log=quiet)
    assert Path(data.cache_path).parent == tmp_path / "arg"
    assert build_datasets(one_task_cfg([path]), tokenizer, log=quiet).cache_path is None


def test_changed_file_or_setting_or_tokenizer_makes_a_new_key(tmp_path: Path, tokenizer):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [qa(i) for i in range(8)])
    cache = str(tmp_path / "cache")

    def build(tok=tokenizer, **kw):
        return build_datasets(one_task_cfg([str(path)], **kw), tok, cache_dir=cache, log=quiet)

    keys = {build().cache_path}
    write_jsonl(path, [qa(i) for i in range(8)] + [qa(99)])  # same name, new content
    changed = build()
    assert not changed.from_cache and changed.cache_path not in keys
    keys.add(changed.cache_path)
    for setting in ({"seq_length": 256}, {"split_seed": 5}, {"on_bad_record": "skip"}, {"schema": "plain"}):
        other = build(**setting)
        assert not other.from_cache and other.cache_path not in keys, setting
        keys.add(other.cache_path)
    templated = copy.deepcopy(tokenizer)
    templated.chat_template = "{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}"
    assert build(templated).cache_path not in keys
    assert build().from_cache  # the unchanged inputs still hit


def test_interrupted_write_leaves_nothing_visible(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch):
    path = write_jsonl(tmp_path / "a.jsonl", [qa(i) for i in range(8)])
    cache = tmp_path / "cache"
    cfg = one_task_cfg([path], cache_dir=str(cache))
    original = data_pipeline.storage.TokenizedSplit.save

    def crash_on_valid(self, directory, prefix):
        if prefix == "valid":
            raise KeyboardInterrupt("simulated crash while writing")
        return original(self, directory, prefix)

    monkeypatch.setattr(data_pipeline.storage.TokenizedSplit, "save", crash_on_valid)
    with pytest.raises(KeyboardInterrupt):
        build_datasets(cfg, tokenizer, log=quiet)
    assert visible_entries(cache) == [] and list(cache.iterdir()) == []

    monkeypatch.setattr(data_pipeline.storage.TokenizedSplit, "save", original)
    (cache / ".tmp-0123456789abcdef-leftover").mkdir()  # what a killed process would leave
    rebuilt = build_datasets(cfg, tokenizer, log=quiet)
    assert not rebuilt.from_cache and len(visible_entries(cache)) == 1
    assert build_datasets(cfg, tokenizer, log=quiet).from_cache
