"""The Hugging Face Hub rows become the loaders' records (rows built here in the Hub's field
layout; no network), and the committed fixture is what its generator writes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmark_data import FIXTURE_DIR
from eval.benchmarks import find_data_dir, load_suites
from eval.benchmarks.files import ENV_VAR, READY_MARK
from eval.benchmarks.hub import (HUMANEVAL_ID, HUMANEVAL_X_ID, MBPP_ID, download_benchmarks, go_import_block,
                                 write_sets)
from eval.benchmarks.humaneval_x import LANGUAGES
from eval.errors import EvalError


def fixture_builder():
    spec = importlib.util.spec_from_file_location("fixture_build", FIXTURE_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hub_rows():
    """The fixture's records as the Hub serves them: HumanEval-X without Go's import/test_setup and
    without Python's and Java's `text`, MBPP in four splits."""
    build = fixture_builder()
    humaneval_x = {lang: [{k: r[k] for k in ("task_id", "prompt", "declaration", "canonical_solution", "test",
                                              "example_test")} for r in records]
                   for lang, records in build.humaneval_x_records().items()}
    mbpp = build.mbpp_records()
    splits = {"prompt": [r for r in mbpp if r["task_id"] <= 10], "test": [r for r in mbpp if 11 <= r["task_id"] <= 510],
              "validation": [r for r in mbpp if 511 <= r["task_id"] <= 600], "train": [r for r in mbpp if r["task_id"] > 600]}
    return build.humaneval_records(), humaneval_x, splits


def fake_load(calls: list):
    humaneval, humaneval_x, mbpp = hub_rows()

    def load(dataset_id, config, split):
        calls.append((dataset_id, config, split))
        if dataset_id == HUMANEVAL_ID:
            return humaneval
        if dataset_id == HUMANEVAL_X_ID:
            return humaneval_x[config]
        assert dataset_id == MBPP_ID and config == "full"
        return list(reversed(mbpp[split]))  # the Hub's order need not be the file's
    return load


def test_hub_rows_convert_to_the_records_the_loaders_read(tmp_path):
    calls = []
    folder = write_sets(tmp_path / "benchmarks", fake_load(calls))
    assert (folder / READY_MARK).is_file() and not list(tmp_path.glob(".download-*"))
    assert {c[1] for c in calls if c[0] == HUMANEVAL_X_ID} == set(LANGUAGES)
    converted = {s.key: s for s in load_suites(["humaneval", "humaneval-x", "mbpp"], data_dir=folder)}
    original = {s.key: s for s in load_suites(["humaneval", "humaneval-x", "mbpp"], data_dir=FIXTURE_DIR)}
    assert converted.keys() == original.keys()
    for key, suite in original.items():
        for mine, theirs in zip(converted[key].problems, suite.problems, strict=True):
            assert mine.task_id == theirs.task_id and mine.prompt == theirs.prompt
            # the program each harness runs is the same, Go's derived import and test_setup included
            assert converted[key].assemble(mine, mine.reference) == suite.assemble(theirs, theirs.reference), mine.task_id
    mbpp_ids = [line.split('"task_id": ')[1].split(",")[0] for line in (folder / "mbpp/mbpp.jsonl").read_text().splitlines()]
    assert mbpp_ids == sorted(mbpp_ids, key=int)


def test_go_import_block():
    assert go_import_block('import (\n    "math"\n)\n\n// doc\nfunc F() {\n') == 'import (\n    "math"\n)\n'
    assert go_import_block('import "strings"\n\nfunc F() {\n') == 'import "strings"\n'
    assert go_import_block("\n// doc\nfunc F() {\n") == ""


def test_a_failed_download_leaves_no_folder_that_looks_complete(tmp_path, monkeypatch):
    def broken(dataset_id, config, split):
        if dataset_id == MBPP_ID:
            raise EvalError("cannot load google-research-datasets/mbpp from the Hugging Face Hub: offline")
        return fake_load([])(dataset_id, config, split)

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "mft" / "benchmarks"  # where find_data_dir looks
    with pytest.raises(EvalError, match="offline"):
        write_sets(cache, broken)
    assert not cache.exists() and not list(cache.parent.glob(".download-*"))
    assert find_data_dir() is None
    write_sets(cache, fake_load([]))
    assert find_data_dir() == cache


def test_download_without_datasets_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(EvalError, match=r"pip install -e \.\[hub\]"):
        download_benchmarks(Path("/nonexistent"))


def test_committed_fixture_is_what_its_generator_writes():
    files = fixture_builder().fixture_files()
    on_disk = {str(p.relative_to(FIXTURE_DIR)): p.read_bytes() for p in FIXTURE_DIR.rglob("*") if p.is_file()
               and p.name != "build.py" and "__pycache__" not in p.parts}
    assert on_disk == files
