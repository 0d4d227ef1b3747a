"""Layers import downwards only (docs/design.md, "Layout").

The core (mft outside mft.experiments, data_pipeline) imports neither `eval` nor the experiments
layer, not even lazily inside a function; `eval` imports data_pipeline but not mft. Checked twice:
on the source (every import statement, wherever it sits) and by importing the trainer.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from launch_helpers import checkout_env

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def core_files() -> list[Path]:
    files = [p for p in (ROOT / "mft").rglob("*.py") if "experiments" not in p.relative_to(ROOT).parts]
    return files + list((ROOT / "data_pipeline").rglob("*.py"))


def forbidden(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


def test_imported_modules_resolves_relative_imports():
    path = ROOT / "mft" / "experiments" / "pretrain.py"
    names = imported_modules(path)
    assert "mft.base_model" in names and "mft.experiments.reproduce" in names


def test_core_source_imports_neither_eval_nor_experiments():
    files = core_files()
    assert len(files) > 40  # the scan sees the whole core
    offenders = {str(p.relative_to(ROOT)): bad for p in files
                 if (bad := forbidden(imported_modules(p), ("eval", "mft.experiments")))}
    assert offenders == {}


def test_eval_does_not_import_mft():
    offenders = {str(p.relative_to(ROOT)): bad for p in (ROOT / "eval").rglob("*.py")
                 if (bad := forbidden(imported_modules(p), ("mft",)))}
    assert offenders == {}


def test_importing_the_trainer_loads_neither_eval_nor_experiments():
    code = ("import sys, mft.trainer, mft.preflight, mft.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'eval' or m.startswith('mft.experiments')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=checkout_env(), cwd=ROOT).stdout
    assert out.strip() == "[]"
