"""The comparison report: a paper-style Markdown table and PNG figures from the runs' metrics.

Figures (matplotlib, no screen needed):
- valid_ratio.png: per task, each method's validation-loss ratio curve min-max normalised to
  [0, 1] (the CoBa paper's Figure 9), so convergence and overfitting read the same for every task;
- valid_loss.png: the same curves unnormalised, from the first validation after step 0 (the
  initial drop no longer flattens them: a task's minimum and its rise after it stand out);
- weights.png: each method's task weights over the steps;
- coba_df.png: CoBa's divergence factor over the steps.
With several seeds the curves are the seeds' mean (``mean_records``) or one seed's.
"""
from __future__ import annotations

import math
import os
from decimal import ROUND_HALF_UP, Decimal

from .paired import holm, paired_difference


def score_row(scores: dict, tasks: list[str]) -> dict:
    """One run's table columns: per task test loss and exact match, their averages, the spread."""
    t = scores["tasks"]
    row = {}
    for task in tasks:
        row[f"{task} loss"] = t[task]["loss"]
        row[f"{task} EM"] = t[task]["exact_match"]
    row["avg loss"] = sum(t[task]["loss"] for task in tasks) / len(tasks)
    row["avg EM"] = sum(t[task]["exact_match"] for task in tasks) / len(tasks)
    row["spread"] = scores.get("convergence_spread")
    return row


def markdown_table(scores: dict[str, list[dict]], tasks: list[str]) -> str:
    """Rows: methods; columns: per task test loss and exact match, their averages, the spread; each
    a mean +- sd over the method's seeds (a plain value with one seed), then the number of seeds.
    The best mean of each column is bold (lowest loss, highest exact match, smallest spread)."""
    runs = {method: [score_row(s, tasks) for s in per_seed] for method, per_seed in scores.items()}
    columns = list(next(iter(runs.values()))[0])
    several = any(len(rows) > 1 for rows in runs.values())
    means = {m: {c: _mean_sd([r[c] for r in rows]) for c in columns} for m, rows in runs.items()}
    best = {}
    for col in columns:
        values = [ms[col][0] for ms in means.values() if ms[col] is not None]
        if values:
            best[col] = max(values) if col.endswith("EM") else min(values)
    header = columns + (["seeds"] if several else [])
    lines = ["| method | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for method, row in means.items():
        cells = []
        for col in columns:
            if row[col] is None:
                cells.append("-")
                continue
            mean, sd = row[col]
            text = _number(col, mean)
            text = f"**{text}**" if col in best and text == _number(col, best[col]) else text  # ties as printed
            cells.append(text if sd is None else f"{text} ± {_number(col, sd, spread=True)}")
        lines.append(f"| {method} | " + " | ".join(cells + ([str(len(runs[method]))] if several else [])) + " |")
    return "\n".join(lines)


def _mean_sd(values: list) -> tuple[float, float | None] | None:
    """Mean and sample sd (None with one value) of the values present; None when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    mean = sum(values) / len(values)
    if len(values) == 1:
        return (values[0], None)
    return (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)))


def fixed(v: float, decimals: int, sign: bool = False) -> str:
    """`v` to `decimals` places, a tie rounded away from zero whatever its binary form: 43.55 and 38.15
    (means of k / 200 exact matches, stored as 43.550000000000004 and 38.149999999999999) print as 43.6
    and 38.2, where f"{v:.1f}" printed 43.6 and 38.1. Float noise is dropped first (12 significant
    digits)."""
    text = str(Decimal(f"{v:.12g}").quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    return "+" + text if sign and not text.startswith("-") else text  # -0.0001 stays -0.000: its sign


def _number(col: str, v: float, spread: bool = False) -> str:
    if col.endswith("EM"):
        return fixed(100 * v, 1)
    if col == "spread":
        return fixed(v, 0) if spread or not isinstance(v, int) else f"{v:d}"
    return fixed(v, 3)


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def paired_table(scores: dict[str, list[dict]], seeds: dict[str, list[int]], tasks: list[str],
                 baseline: str) -> tuple[str, int, int]:
    """Each method's test loss minus `baseline`'s, paired by seed: rows are the methods, columns the
    mean test loss and each task's, each cell the mean difference over the seeds both ran, its 95%
    t interval (negative: the method is better; an interval wholly below 0: better across seeds) and,
    in parentheses, its p-value Holm-adjusted over the column (the table's methods against the
    baseline on that score: one family per column). Returns the table, the comparisons per column
    and the intervals it prints."""
    columns = ["avg loss"] + [f"{t} loss" for t in tasks]
    rows = {}
    for method in scores:
        if method == baseline:
            continue
        common = [s for s in seeds[method] if s in seeds[baseline]]
        if not common:
            continue
        a = {s: score_row(x, tasks) for s, x in zip(seeds[method], scores[method]) if s in common}
        b = {s: score_row(x, tasks) for s, x in zip(seeds[baseline], scores[baseline]) if s in common}
        diffs = [paired_difference([a[s][col] for s in common], [b[s][col] for s in common]) for col in columns]
        rows[method] = (diffs, len(common))
    adjusted: dict[tuple[str, int], float] = {}
    for c in range(len(columns)):
        tested = [m for m, (diffs, _) in rows.items() if diffs[c].p is not None]
        adjusted.update({(m, c): p for m, p in zip(tested, holm([rows[m][0][c].p for m in tested]))})
    lines = [f"| method - {baseline} | " + " | ".join(columns) + " | seeds |", "|---" * (len(columns) + 2) + "|"]
    for method, (diffs, n) in rows.items():
        cells = [fixed(d.mean, 3, sign=True) + ("" if d.low is None else
                 f" [{fixed(d.low, 3, sign=True)}, {fixed(d.high, 3, sign=True)}] ({_p(adjusted[(method, c)])})")
                 for c, d in enumerate(diffs)]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {n} |")
    intervals = sum(d.low is not None for diffs, _ in rows.values() for d in diffs)
    return "\n".join(lines), sum(1 for diffs, _ in rows.values() if diffs[0].p is not None), intervals


def paired_sections(scores: dict[str, list[dict]], seeds: dict[str, list[int]], tasks: list[str],
                    baselines: list[str]) -> list[str]:
    """The report's paired comparisons: one section per baseline that ran (e.g. uniform, then coba
    for its remedies and ablations), each a `paired_table` under its heading and caption, after a
    line that counts the tables and the intervals they print (the multiplicity a reader faces)."""
    sections, total = [], 0
    for baseline in baselines:
        if baseline not in scores or not any(m != baseline for m in scores):
            continue
        table, family, intervals = paired_table(scores, seeds, tasks, baseline)
        total += intervals
        sections += [f"## Against {baseline}, paired by seed", "",
                     f"Per seed, each method's test loss minus {baseline}'s: the mean of these differences, "
                     f"its 95% interval from Student's t (an interval wholly below 0: better than {baseline} "
                     "across seeds; one that holds 0: no difference shown), and in parentheses the paired t "
                     f"test's p-value, Holm-adjusted over the column's {family} comparisons (the methods "
                     f"against {baseline} on that score). An adjusted p below 0.05 holds with the column's "
                     f"other comparisons taken into account; the interval alone does not. {intervals} "
                     "intervals in this table.", "",
                     table, ""]
    if not sections:
        return []
    tables = sum(line.startswith("## Against ") for line in sections)
    return [f"The paired tables below print {total} intervals in {tables} table{'s' if tables > 1 else ''}: "
            "at 95% each, about one in 20 of those without a real difference excludes 0 by chance. "
            "Read the Holm-adjusted p-values, not the intervals, for claims across a column.", ""] + sections


def retirement_section(scores: dict[str, list[dict]], seeds: dict[str, list[int]]) -> list[str]:
    """The report's list of per-task retirements (validation.task_patience), one row per retired
    task and run, from each run's summary; nothing when no run retired a task."""
    rows = []
    for method, per_seed in scores.items():
        for seed, result in zip(seeds[method], per_seed):
            for e in result.get("retired_tasks", []):
                rows.append(f"| {method} | {seed} | {e['task']} | {e['step']} | {e['best_step']} | "
                            f"{e.get('rolled_back_to', '-')} |")
    if not rows:
        return []
    return ["## Retired tasks", "", "Tasks retired by the per-task stop: the validation step that retired "
            "each, the step of its best validation loss, and the step the run rolled back to (rollback on).", "",
            "| method | seed | task | retired at | best step | rolled back to |", "|---|---|---|---|---|---|",
            *rows, ""]


def mean_records(runs: list[list[dict]]) -> list[dict]:
    """Several seeds' metrics records averaged step by step, for the figures: ``valid_loss``,
    ``weights`` (per task) and ``weighting_df`` over the seeds that logged them at that step (an
    early-stopped seed drops out of the later steps)."""
    by_step: dict[int, list[dict]] = {}
    for records in runs:
        for r in records:
            by_step.setdefault(r["step"], []).append(r)
    out = []
    for step in sorted(by_step):
        merged: dict = {"step": step}
        for key in ("valid_loss", "weights"):
            present = [r[key] for r in by_step[step] if r.get(key)]
            if present:
                merged[key] = {t: _mean([p.get(t) for p in present]) for t in present[0]}
        df = [r["weighting_df"] for r in by_step[step] if r.get("weighting_df") is not None]
        if df:
            merged["weighting_df"] = sum(df) / len(df)
        out.append(merged)
    return out


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi == lo else (v - lo) / (hi - lo) for v in values]


def pyplot():
    """matplotlib's pyplot without a screen, or an error that says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError('the figures need matplotlib: pip install -e ".[report]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figures(metrics: dict[str, list[dict]], tasks: list[str], out_dir: str) -> list[str]:
    """Draw the figures from each method's metrics records; returns the file paths."""
    plt = pyplot()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    colours = plt.cm.tab20.colors  # up to 20 methods told apart
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ax.set_prop_cycle(color=colours)
        for method, records in metrics.items():
            valid = [r for r in records if r.get("valid_loss") and r["valid_loss"].get(task) is not None]
            if len(valid) > 1:  # ratio to the validation before training (the step-0 record)
                ratios = [r["valid_loss"][task] / valid[0]["valid_loss"][task] for r in valid]
                ax.plot([r["step"] for r in valid], minmax(ratios), label=method)
        ax.set_title(f"{task}: validation-loss ratio (min-max)")
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    paths.append(_save(fig, out_dir, "valid_ratio.png"))

    # the same curves unnormalised and without the step-0 record, whose drop flattens the rest:
    # where a task reaches its minimum and how far it rises after it (overfitting) show here
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ax.set_prop_cycle(color=colours)
        for method, records in metrics.items():
            valid = [r for r in records if r.get("valid_loss") and r["valid_loss"].get(task) is not None][1:]
            ax.plot([r["step"] for r in valid], [r["valid_loss"][task] for r in valid], label=method, linewidth=0.9)
        ax.set_title(f"{task}: validation loss after the first evaluation")
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    paths.append(_save(fig, out_dir, "valid_loss.png"))

    weighted = {m: r for m, r in metrics.items() if any("weights" in x for x in r)}
    cols = min(len(weighted), 5)  # one panel per method, five to a row
    rows = math.ceil(len(weighted) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(weighted):]:
        ax.set_visible(False)
    for ax, (method, records) in zip(axes.flat, weighted.items()):
        ax.set_prop_cycle(color=plt.cm.tab10.colors)  # tasks: distinct hues
        steps = [r for r in records if "weights" in r]
        for task in tasks:
            ax.plot([r["step"] for r in steps], [r["weights"][task] for r in steps], label=task, linewidth=0.8)
        ax.set_title(method)
        ax.set_ylim(0, 1)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    paths.append(_save(fig, out_dir, "weights.png"))

    coba = {m: r for m, r in metrics.items() if any("weighting_df" in x for x in r)}
    if coba:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.set_prop_cycle(color=colours)
        for method, records in coba.items():
            steps = [r for r in records if r.get("weighting_df") is not None]
            ax.plot([r["step"] for r in steps], [r["weighting_df"] for r in steps], label=method, linewidth=0.8)
        ax.set_title("CoBa divergence factor DF")
        ax.set_xlabel("step")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=7)
        paths.append(_save(fig, out_dir, "coba_df.png"))
    return paths


def _save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
