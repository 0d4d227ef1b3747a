"""benchmarks/controller_dynamics.py on a hand-made run whose figures are known."""
import json

from launch_helpers import load_script

dynamics = load_script("controller_dynamics", "benchmarks")


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def make_run(run_dir):
    """Steps 1-100: slopes from step 11 (the warm-up ends), DF below 0.01 from step 41; `b`'s valid
    loss is lowest at step 40 and its slope positive on 45 of the 60 steps after; weights logged
    every 10 steps: equal up to step 40, then `a` 0.9 / `b` 0.1, except a jump to `b` 0.6 at step 70."""
    run_dir.mkdir()
    ctl = [{"step": t, "weighting_df": 1.0 if t <= 40 else 0.001,
            "weighting_slopes": {"a": 0.0 if t <= 10 else -1.0, "b": 0.0 if t <= 10 else (1.0 if t <= 85 else -1.0)}}
           for t in range(1, 101)]
    _write(run_dir / "controller.jsonl", ctl)
    metrics = []
    for t in range(10, 101, 10):
        w = {"a": 0.5, "b": 0.5} if t <= 40 else {"a": 0.4, "b": 0.6} if t == 70 else {"a": 0.9, "b": 0.1}
        metrics.append({"step": t, "weights": w})
        if t % 20 == 0:
            metrics.append({"step": t, "valid_loss": {"a": 1.0 - t / 200, "b": abs(t - 40) / 100 + 0.5}})
    _write(run_dir / "metrics.jsonl", metrics)


def test_figures_of_a_known_run(tmp_path):
    make_run(tmp_path / "coba")
    f = dynamics.run_dynamics(str(tmp_path / "coba"), "b", window=10)
    assert f["df_off"] == 41 and f["onset"] == 40
    # after the warm-up, 9 logged steps (20-100): a > 0.5 at 50, 60, 80, 90, 100 and b at 70
    assert abs(f["one_task"] - 6 / 9) < 1e-12 and f["starved"] == 0.0
    # changes from step 20 on: 0, 0, 0.8 at 40->50, 0, 1.0 at 60->70, 1.0 at 70->80, 0, 0
    assert abs(f["switch"] - 2.8 / 8) < 1e-12
    assert f["w_before"] == 0.5 and abs(f["w_after"] - (5 * 0.1 + 0.6) / 6) < 1e-12
    assert f["rising"] == 45 / 60
    # b's validation loss from its best step on: 0.5, 0.7, 0.9, 1.1 at steps 40-100, 0.01 per step
    assert abs(f["rise"] - 0.01) < 1e-12
    # of the 60 controller steps after step 40, steps 41-49 fit a 10-step window that holds step 40
    assert f["straddle"] == 9 / 60


def test_a_task_absent_from_the_batch_is_not_counted_as_starved(tmp_path):
    """Equal weights over three tasks, `c` absent from every other logged batch: there it is logged
    with weight 0 and the others with 1/2 each. Those steps say nothing about the weighting, so no
    weight figure may count them (the old script scored this run 50% starved)."""
    run = tmp_path / "coba"
    run.mkdir()
    _write(run / "controller.jsonl", [{"step": t, "weighting_df": 1.0, "weighting_slopes": {"a": -1.0, "b": -1.0, "c": -1.0}}
                                      for t in range(1, 101)])
    metrics = []
    for t in range(10, 101, 10):
        absent = t % 20 == 0
        w = {"a": 0.5, "b": 0.5, "c": 0.0} if absent else {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
        metrics.append({"step": t, "weights": w, "task_loss": {"a": 1.0, "b": 1.0, "c": None if absent else 1.0}})
    metrics.append({"step": 100, "valid_loss": {"a": 1.0, "b": 1.0, "c": 1.0}})
    _write(run / "metrics.jsonl", metrics)
    f = dynamics.run_dynamics(str(run), "c")
    assert f["starved"] == 0.0 and f["one_task"] == 0.0
    assert f["switch"] is None  # no two consecutive logged steps both have every task
    assert abs(f["w_before"] - 1 / 3) < 1e-12  # c's weight where every task is present


def test_a_run_without_coba_records_gets_the_weight_figures_only(tmp_path):
    run = tmp_path / "uniform"
    run.mkdir()
    (run / "controller.jsonl").write_text("")  # what the trainer writes for a method without a controller
    _write(run / "metrics.jsonl", [{"step": t, "weights": {"a": 0.5, "b": 0.5}, "valid_loss": {"a": 1.0, "b": 2.0 - t / 100}}
                                   for t in range(10, 101, 10)])
    f = dynamics.run_dynamics(str(run), "b", window=10)
    assert (f["one_task"], f["starved"], f["switch"], f["onset"]) == (0.0, 0.0, 0.0, 100)
    assert f["df_off"] is None and f["rising"] is None and f["straddle"] is None


def test_table_skips_methods_without_finished_runs(tmp_path, capsys):
    runs = tmp_path / "out" / "runs"
    runs.mkdir(parents=True)
    make_run(runs / "coba")
    make_run(runs / "coba.seed43")
    (runs / "uniform").mkdir()
    _write(runs / "uniform" / "controller.jsonl", [{"step": 1, "controller_valid_loss": {"a": 1.0}}])
    assert dynamics.main([str(tmp_path / "out"), "--methods", "coba,uniform", "--task", "b"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].startswith("| coba | 2 | 41 ± 0 | 0.67 ± 0.00 | 0.00 ± 0.00 | 0.35 ± 0.00 | 40 ± 0 |")
    assert rows[3] == "| uniform | 0 |" + " - |" * 10  # no metrics: not a finished run
