"""The Markdown table comparing sources (checkpoints, or methods): one row per source, one column
per suite (pass@1 in percent) or task-file score ("<task>:f1", ":bleu", ":ppl" as computed), and
their mean."""
from __future__ import annotations

SCORES = (("pass@1", 100.0), ("f1", 1.0), ("bleu", 1.0), ("ppl", 1.0))  # (summary key, factor to the table's unit)


def table_value(summary: dict) -> float | None:
    """The number a summary shows in the table: pass@1 in percent, F1 and BLEU (0-100), perplexity."""
    for key, factor in SCORES:
        if summary.get(key) is not None:
            return factor * summary[key]
    return None


def markdown_table(results: dict[str, dict[str, dict]], row_label: str = "checkpoint") -> str:
    """`results`: {source name: {column key: summary}} -> one row per source, one column per key."""
    columns: list[str] = []
    for by_suite in results.values():
        for key in by_suite:
            if key not in columns:
                columns.append(key)
    header = [row_label, *columns, "average"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for source, by_suite in results.items():
        values = [table_value(by_suite.get(key, {})) for key in columns]
        present = [v for v in values if v is not None]
        cells = ["-" if v is None else f"{v:.2f}" if key.endswith(":ppl") else f"{v:.1f}" for key, v in zip(columns, values)]
        average = f"{sum(present) / len(present):.1f}" if present else "-"
        lines.append("| " + " | ".join([source, *cells, average]) + " |")
    return "\n".join(lines) + "\n"
