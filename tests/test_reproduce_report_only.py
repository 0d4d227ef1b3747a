"""launch/reproduce.py --report-only and --compact, on hand-made scored runs (nothing trains)."""
import gzip
import json

from mft.experiments.run_logs import compress_logs, read_log
from launch_helpers import ROOT, load_script

COMPARE = f"{ROOT}/configs/compare_cpu.json"
TASKS = ["copy", "addition", "reverse"]


def _run(folder, loss, gz):
    folder.mkdir(parents=True)
    scores = {"tasks": {t: {"loss": loss, "exact_match": 0.5, "samples": 2} for t in TASKS}, "convergence_spread": 10}
    (folder / "scores.json").write_text(json.dumps(scores))
    (folder / "summary.json").write_text(json.dumps({"best_step": 10}))
    records = [{"step": s, "valid_loss": {t: 2.0 - s / 10 for t in TASKS}, "weights": {t: 1 / 3 for t in TASKS}}
               for s in (0, 5, 10)]
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    if gz:
        (folder / "metrics.jsonl.gz").write_bytes(gzip.compress(text))
    else:
        (folder / "metrics.jsonl").write_bytes(text)
    (folder / "controller.jsonl").write_text("")


def _args(out, *extra):
    return ["--config", COMPARE, "--out", str(out), "--methods", "uniform,coba", "--num-seeds", "2", *extra]


def test_report_only_rebuilds_the_report_from_scored_runs_plain_or_gzipped(tmp_path):
    out = tmp_path / "out"
    for i, name in enumerate(["uniform", "uniform.seed43", "coba", "coba.seed43"]):
        _run(out / "runs" / name, 1.0 + 0.1 * i, gz=i % 2 == 1)
    assert load_script("reproduce").main(_args(out, "--report-only")) == 0
    report = (out / "report.md").read_text()
    assert "Command: `python launch/reproduce.py --config" in report and "--report-only" not in report
    assert "| coba | +0.200 [+0.200, +0.200] (<0.001) |" in report  # 1.2 - 1.0 and 1.3 - 1.1
    assert (out / "figures" / "weights.png").exists()
    assert sorted(p.name for p in (out / "runs" / "uniform").iterdir()) == [
        "controller.jsonl", "metrics.jsonl", "scores.json", "summary.json"]  # nothing trained or compressed


def test_compact_gzips_the_logs_and_the_report_reads_them_the_same(tmp_path):
    out = tmp_path / "out"
    for i, name in enumerate(["uniform", "uniform.seed43", "coba", "coba.seed43"]):
        _run(out / "runs" / name, 1.0 + 0.1 * i, gz=False)
    before = read_log(str(out / "runs" / "coba"), "metrics")
    assert load_script("reproduce").main(_args(out, "--report-only")) == 0
    report = (out / "report.md").read_text()
    assert load_script("reproduce").main(_args(out, "--report-only", "--compact")) == 0
    assert sorted(p.name for p in (out / "runs" / "coba").iterdir()) == [
        "controller.jsonl.gz", "metrics.jsonl.gz", "scores.json", "summary.json"]
    assert read_log(str(out / "runs" / "coba"), "metrics") == before and read_log(str(out / "runs" / "coba"), "controller") == []
    assert load_script("reproduce").main(_args(out, "--report-only")) == 0
    assert (out / "report.md").read_text() == report
    # the same log always gives the same bytes (mtime 0): a regenerated folder does not churn in git
    packed = (out / "runs" / "coba" / "metrics.jsonl.gz").read_bytes()
    (out / "runs" / "coba" / "metrics.jsonl").write_bytes(gzip.decompress(packed))
    (out / "runs" / "coba" / "metrics.jsonl.gz").unlink()
    assert compress_logs(str(out / "runs" / "coba")) == [str(out / "runs" / "coba" / "metrics.jsonl.gz")]
    assert (out / "runs" / "coba" / "metrics.jsonl.gz").read_bytes() == packed


def test_report_only_refuses_runs_not_scored_yet(tmp_path, capsys):
    out = tmp_path / "out"
    for name in ["uniform", "uniform.seed43", "coba"]:
        _run(out / "runs" / name, 1.0, gz=False)
    assert load_script("reproduce").main(_args(out, "--report-only")) == 2
    err = capsys.readouterr().err
    assert "--report-only: not scored yet:" in err and "coba.seed43" in err
    assert not (out / "report.md").exists()
