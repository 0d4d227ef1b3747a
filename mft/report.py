"""The comparison report: a paper-style Markdown table and PNG figures from the runs' metrics.

Figures (matplotlib, no screen needed):
- valid_ratio.png: per task, each method's validation-loss ratio curve min-max normalised to
  [0, 1] (the CoBa paper's Figure 9), so convergence and overfitting read the same for every task;
- weights.png: each method's task weights over the steps;
- coba_df.png: CoBa's divergence factor over the steps.
"""
from __future__ import annotations

import os


def markdown_table(scores: dict[str, dict], tasks: list[str]) -> str:
    """Rows: methods; columns: per task test loss and exact match, their averages, the spread.
    The best value of each column is bold (lowest loss, highest exact match, smallest spread)."""
    rows = {}
    for method, s in scores.items():
        t = s["tasks"]
        row = {}
        for task in tasks:
            row[f"{task} loss"] = t[task]["loss"]
            row[f"{task} EM"] = t[task]["exact_match"]
        row["avg loss"] = sum(t[task]["loss"] for task in tasks) / len(tasks)
        row["avg EM"] = sum(t[task]["exact_match"] for task in tasks) / len(tasks)
        row["spread"] = s.get("convergence_spread")
        rows[method] = row
    columns = list(next(iter(rows.values())))
    best = {}
    for col in columns:
        values = [r[col] for r in rows.values() if r[col] is not None]
        if values:
            best[col] = max(values) if col.endswith("EM") else min(values)
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for method, row in rows.items():
        cells = []
        for col in columns:
            v = row[col]
            if v is None:
                cells.append("-")
                continue
            text = f"{100 * v:.1f}" if col.endswith("EM") else (f"{v:d}" if isinstance(v, int) else f"{v:.3f}")
            cells.append(f"**{text}**" if v == best.get(col) else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    """Draw the three figures from each method's metrics records; returns the file paths."""
    plt = pyplot()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for method, records in metrics.items():
            valid = [r for r in records if r.get("valid_loss") and r["valid_loss"].get(task) is not None]
            if len(valid) > 1:  # ratio to the validation before training (the step-0 record)
                ratios = [r["valid_loss"][task] / valid[0]["valid_loss"][task] for r in valid]
                ax.plot([r["step"] for r in valid], minmax(ratios), label=method)
        ax.set_title(f"{task}: validation-loss ratio (min-max)")
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    paths.append(_save(fig, out_dir, "valid_ratio.png"))

    weighted = {m: r for m, r in metrics.items() if any("weights" in x for x in r)}
    fig, axes = plt.subplots(1, len(weighted), figsize=(3.6 * len(weighted), 3.2), squeeze=False)
    for ax, (method, records) in zip(axes[0], weighted.items()):
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
