"""The Markdown table comparing sources (checkpoints): pass@1 in percent per suite, and the mean."""
from __future__ import annotations


def markdown_table(results: dict[str, dict[str, dict]], metric: str = "pass@1") -> str:
    """`results`: {source name: {suite key: summary}} -> one row per source, one column per suite."""
    columns: list[str] = []
    for by_suite in results.values():
        for key in by_suite:
            if key not in columns:
                columns.append(key)
    header = ["checkpoint", *columns, "average"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for source, by_suite in results.items():
        values = [by_suite.get(key, {}).get(metric) for key in columns]
        present = [v for v in values if v is not None]
        cells = [f"{100 * v:.1f}" if v is not None else "-" for v in values]
        average = f"{100 * sum(present) / len(present):.1f}" if present else "-"
        lines.append("| " + " | ".join([source, *cells, average]) + " |")
    return "\n".join(lines) + "\n"
