"""The README's config table lists every config key, and nothing the user receives points to a
folder outside the repository."""
from __future__ import annotations

import dataclasses
import subprocess

from launch_helpers import ROOT
from data_pipeline.config import DataConfig, TaskConfig
from mft.config import RunConfig


def readme_rows() -> dict[str, str]:
    rows = {}
    for line in open(f"{ROOT}/README.md", encoding="utf-8"):
        if line.startswith("| `"):
            name = line.split("`")[1]
            rows[name] = line
    return rows


def test_the_config_table_names_every_key():
    rows = readme_rows()
    sections = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    missing = []
    for section in sections:
        if section == "description":
            continue
        assert section in rows, f"README's config table has no row for {section}"
        default = next(f for f in dataclasses.fields(RunConfig) if f.name == section)
        cls = DataConfig if section == "data" else type(default.default_factory()) if default.default_factory is not dataclasses.MISSING else None
        if cls is None or not dataclasses.is_dataclass(cls):
            continue
        missing += [f"{section}.{f.name}" for f in dataclasses.fields(cls) if f"`{f.name}`" not in rows[section]]
    missing += [f"data.tasks[].{f.name}" for f in dataclasses.fields(TaskConfig) if f"`{f.name}`" not in rows["data"]]
    assert not missing, f"README's config table lacks {missing}"


def test_no_file_points_to_a_folder_outside_the_repository():
    outside = ".." + "/shared"  # written apart, so that this file does not match itself
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for path in tracked:
        if path.startswith("docs/results/") or path.endswith((".gz", ".png")):
            continue
        try:
            text = open(f"{ROOT}/{path}", encoding="utf-8").read()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        hits += [f"{path}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside in line]
    assert not hits, hits
