"""The comparison pipeline's pieces: method mapping, scoring on test files, table and figures."""
import hashlib
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from data_pipeline import train_sentencepiece
from eval.report import markdown_table as benchmark_table
from mft.experiments.benchmark_scores import check_names, named_by_metric
from mft.config import load_config
from mft.experiments.paired import paired_difference, t_quantile_975
from mft.experiments.report import figures, markdown_table, mean_records, minmax, paired_sections, paired_table
from mft.experiments.reproduce import best_steps, method_overrides, plan, seeds
from mft.experiments.task_eval import evaluate_tasks, weight_digests
from launch_helpers import ROOT, load_script

COMPARE = f"{ROOT}/configs/compare_cpu.json"


def test_method_names_map_to_weighting_overrides():
    cfg = load_config(COMPARE)
    assert method_overrides(cfg, "famo_valid")[:2] == ["weighting.method=famo", 'weighting.params={"source": "valid"}']
    coba = json.loads(method_overrides(cfg, "coba_no_df")[1].split("=", 1)[1])
    assert coba["ablate"] == "df" and coba["history_window"] == cfg.weighting.params.history_window
    with pytest.raises(ValueError, match="unknown CoBa ablation"):
        method_overrides(cfg, "coba_no_xyz")
    runs = plan(cfg, ["uniform", "stl"], "/out")
    assert runs[1].stl and runs[1].output_dir == "/out/runs/stl"
    mftcoder = json.loads(method_overrides(cfg, "coba_mftcoder")[1].split("=", 1)[1])
    assert mftcoder["variant"] == "mftcoder" and mftcoder["tau"] == cfg.weighting.params.tau
    with pytest.raises(ValueError, match="names no weighting method"):
        method_overrides(cfg, "coba_m4")  # not defined in this config's reproduce.overrides


def test_a_config_defined_method_is_its_weighting_method_with_its_overrides():
    cfg = load_config(COMPARE, ['reproduce.overrides={"coba_m4": {"weighting.method": "coba", '
                                '"weighting.valid_batches": 4, "weighting.params.history_window": 200}}'])
    sets = method_overrides(cfg, "coba_m4")
    assert sets[0] == "weighting.method=coba" and sets[2:] == ["weighting.valid_batches=4",
                                                              "weighting.params.history_window=200"]
    run = load_config(COMPARE, sets)
    assert run.weighting.valid_batches == 4 and run.weighting.params.history_window == 200
    assert run.weighting.params.tau == cfg.weighting.params.tau


def test_seeds_run_in_their_own_folders_the_configs_seed_where_it_always_ran():
    cfg = load_config(COMPARE)
    assert seeds(cfg, 3) == [42, 43, 44]
    runs = plan(cfg, ["uniform", "coba"], "/out", seeds(cfg, 2))
    assert [(r.name, r.seed, r.output_dir) for r in runs] == [
        ("uniform", 42, "/out/runs/uniform"), ("uniform", 43, "/out/runs/uniform.seed43"),
        ("coba", 42, "/out/runs/coba"), ("coba", 43, "/out/runs/coba.seed43")]
    with pytest.raises(ValueError, match="--num-seeds must be >= 1"):
        seeds(cfg, 0)


def test_t_quantiles_and_a_hand_worked_paired_interval():
    assert t_quantile_975(2) == 4.3027 and t_quantile_975(30) == 2.0423
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=1e-4)  # the expansion beyond the table
    # differences 0.1, 0.05, 0.0: mean 0.05, sd 0.05, half-width 4.3027 * 0.05 / sqrt(3) = 0.12421
    d = paired_difference([1.1, 1.3, 1.2], [1.0, 1.25, 1.2])
    assert d.n == 3 and d.mean == pytest.approx(0.05)
    assert (d.low, d.high) == (pytest.approx(0.05 - 0.12421, abs=1e-5), pytest.approx(0.05 + 0.12421, abs=1e-5))
    assert paired_difference([2.0], [1.5]).low is None


def _scores(loss_x, em_x=0.5):
    return {"tasks": {"x": {"loss": loss_x, "exact_match": em_x}}, "convergence_spread": 10}


def test_table_with_seeds_shows_mean_sd_and_count_and_the_paired_comparison():
    scores = {"uniform": [_scores(1.0), _scores(1.2), _scores(1.1)], "coba": [_scores(1.1), _scores(1.25), _scores(1.1)]}
    table = markdown_table(scores, ["x"]).splitlines()
    assert table[0].endswith("| spread | seeds |")
    assert table[2] == "| uniform | **1.100** ± 0.100 | **50.0** ± 0.0 | **1.100** ± 0.100 | **50.0** ± 0.0 | **10** ± 0 | 3 |"
    paired = paired_table(scores, {"uniform": [1, 2, 3], "coba": [1, 2, 3]}, ["x"], "uniform")[0].splitlines()
    assert paired[0] == "| method - uniform | avg loss | x loss | seeds |"
    # t = 0.05 / (0.05 / sqrt 3) = sqrt 3 with 2 df: p = 1 - t / sqrt(2 + t^2) = 0.225 (one comparison: Holm keeps it)
    assert paired[2] == "| coba | +0.050 [-0.074, +0.174] (0.225) | +0.050 [-0.074, +0.174] (0.225) | 3 |"
    assert len(paired) == 3  # no row for the baseline itself
    # only the seeds both ran are paired: seed 2 is 1.1 - 1.2, seed 3 is 1.25 - 1.1; mean 0.025,
    # sd 0.17678, half-width 12.7062 * 0.17678 / sqrt(2) = 1.5883
    # t = 0.025 / 0.125 = 0.2 with 1 df: p = 1 - (2 / pi) atan(0.2) = 0.874
    paired = paired_table(scores, {"uniform": [1, 2, 3], "coba": [2, 3, 4]}, ["x"], "uniform")[0].splitlines()
    assert paired[2] == "| coba | +0.025 [-1.563, +1.613] (0.874) | +0.025 [-1.563, +1.613] (0.874) | 2 |"
    # one common seed: the difference without an interval
    paired = paired_table(scores, {"uniform": [1, 2, 3], "coba": [1, 4, 5]}, ["x"], "uniform")[0].splitlines()
    assert paired[2] == "| coba | +0.100 | +0.100 | 1 |"


def test_mean_records_average_the_seeds_step_by_step():
    a = [{"step": 0, "valid_loss": {"x": 2.0}}, {"step": 5, "weights": {"x": 0.2}, "weighting_df": 1.0},
         {"step": 10, "valid_loss": {"x": 1.0}}]
    b = [{"step": 0, "valid_loss": {"x": 4.0}}, {"step": 5, "weights": {"x": 0.6}, "weighting_df": 3.0}]
    assert mean_records([a, b]) == [{"step": 0, "valid_loss": {"x": 3.0}},
                                    {"step": 5, "weights": {"x": 0.4}, "weighting_df": 2.0},
                                    {"step": 10, "valid_loss": {"x": 1.0}}]


def test_table_bolds_the_best_of_each_column():
    scores = {"a": [{"tasks": {"x": {"loss": 1.0, "exact_match": 0.5}}, "convergence_spread": 100}],
              "b": [{"tasks": {"x": {"loss": 2.0, "exact_match": 0.75}}, "convergence_spread": 50}]}
    table = markdown_table(scores, ["x"]).splitlines()
    assert table[2] == "| a | **1.000** | 50.0 | **1.000** | 50.0 | 100 |"
    assert table[3] == "| b | 2.000 | **75.0** | 2.000 | **75.0** | **50** |"


def test_best_steps_and_minmax():
    metrics = [{"step": 0, "valid_loss": {"x": 3.0, "y": 3.0}}, {"step": 10, "valid_loss": {"x": 1.0, "y": 2.0}},
               {"step": 20, "valid_loss": {"x": 2.0, "y": 1.5}}, {"step": 21, "loss": 1.0}]
    assert best_steps(metrics, ["x", "y"]) == {"x": 10, "y": 20}
    assert minmax([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]


def test_figures_are_written(tmp_path):
    records = [{"step": s, "valid_loss": {"x": 1 / (s + 1)}, "weights": {"x": 1.0}, "weighting_df": 0.5}
               for s in range(5)]
    paths = figures({"coba": records}, ["x"], str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["valid_ratio.png", "valid_loss.png", "weights.png", "coba_df.png"]
    assert all((tmp_path / p.rsplit("/", 1)[1]).stat().st_size > 1000 for p in paths)


def test_task_scores_loss_and_exact_match(tmp_path, monkeypatch):
    tok = train_sentencepiece([f"question {i} answer {i * 3}" for i in range(200)], str(tmp_path / "m"), vocab_size=300)
    model = AutoModelForCausalLM.from_config(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                                         num_hidden_layers=1, num_attention_heads=2))
    model.save_pretrained(tmp_path / "m")
    test = tmp_path / "t.jsonl"
    test.write_text(json.dumps({"prompt": "question 1", "completion": "answer 3"}) + "\n")
    got = evaluate_tasks(str(tmp_path / "m"), {"t": [str(test)]})["t"]
    # the same loss by hand: default template, answer tokens + EOS
    prompt = [tok.bos_token_id] + tok.encode("<|user|>\n", add_special_tokens=False) + \
        tok.encode("question 1", add_special_tokens=False) + tok.encode("\n", add_special_tokens=False) + \
        tok.encode("<|assistant|>\n", add_special_tokens=False)
    answer = tok.encode("answer 3", add_special_tokens=False) + [tok.eos_token_id]
    logits = model(torch.tensor([prompt + answer])).logits[0, len(prompt) - 1:-1]
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(answer)).item()
    assert got["loss"] == pytest.approx(expected, rel=1e-5) and got["samples"] == 1
    assert got["tokens"] == len(answer) and got["loss_sum"] == pytest.approx(expected * len(answer), rel=1e-5)
    digest = hashlib.sha256((tmp_path / "m" / "model.safetensors").read_bytes()).hexdigest()
    assert weight_digests(str(tmp_path / "m")) == {"model.safetensors": digest}
    with pytest.raises(FileNotFoundError, match="no weight files"):
        weight_digests(str(tmp_path / "t.jsonl.d"))
    # a model whose greedy output is the answer scores exact match 1
    monkeypatch.setattr(type(model), "generate",
                        lambda self, input_ids, **kw: torch.cat([input_ids, torch.tensor([answer])], dim=1))
    assert evaluate_tasks(str(tmp_path / "m"), {"t": [str(test)]})["t"]["exact_match"] == 1.0


def test_benchmark_table_has_the_papers_shape():
    """Rows methods; for the CC configs pass@1 per HumanEval-X language and the average (Table 2)."""
    scores = {"uniform": {"humaneval-x/python": {"pass@1": 0.5}, "humaneval-x/cpp": {"pass@1": 0.25}},
              "coba": {"humaneval-x/python": {"pass@1": 0.75}, "humaneval-x/cpp": {"pass@1": 0.5}}}
    table = benchmark_table(named_by_metric(scores), row_label="method").splitlines()
    assert table[0] == "| method | humaneval-x/python pass@1 | humaneval-x/cpp pass@1 | average |"
    assert table[2:] == ["| uniform | 50.0 | 25.0 | 37.5 |", "| coba | 75.0 | 50.0 | 62.5 |"]
    tasks = {"coba": {"en:f1": {"f1": 61.25, "samples": 9}, "bn:f1": {"f1": 40.75, "samples": 9}}}
    assert benchmark_table(named_by_metric(tasks), row_label="method").splitlines()[2] == "| coba | 61.2 | 40.8 | 51.0 |"


def test_every_shipped_configs_benchmarks_can_be_scored():
    import glob
    from mft.base_model import is_base_config
    for path in glob.glob(f"{ROOT}/configs/*.json"):
        if not is_base_config(path):  # a base model's config has no methods to score
            check_names(load_config(path).reproduce.benchmarks)
    with pytest.raises(ValueError, match="reproduce.benchmarks: unknown 'rouge'"):
        check_names(["humaneval", "rouge"])


def test_one_paired_section_per_baseline_that_ran():
    scores = {"uniform": [_scores(1.0), _scores(1.2)], "coba": [_scores(1.1), _scores(1.3)],
              "coba_m4": [_scores(1.0), _scores(1.1)]}
    seeds = {m: [1, 2] for m in scores}
    lines = paired_sections(scores, seeds, ["x"], ["uniform", "coba", "famo"])  # famo did not run
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## Against uniform, paired by seed", "## Against coba, paired by seed"]
    against_coba = "\n".join(lines[lines.index(headings[1]):])
    # uniform - coba is the negative of coba - uniform; coba_m4 - coba: -0.1 and -0.2
    assert "| uniform | -0.100 [-0.100, -0.100] (<0.001)" in against_coba  # the same difference every seed
    assert "| coba_m4 | -0.150 [-0.785, +0.485]" in against_coba
    # 2 tables of 2 methods x 2 columns
    assert lines[0].startswith("The paired tables below print 8 intervals in 2 tables")
    assert "Holm-adjusted over the column's 2 comparisons" in against_coba
    assert paired_sections({"uniform": scores["uniform"]}, seeds, ["x"], ["uniform"]) == []


def test_paired_against_a_method_that_does_not_run_is_refused(tmp_path, capsys):
    code = load_script("reproduce").main(["--config", COMPARE, "--out", str(tmp_path / "out"), "--methods", "uniform,coba",
                     "--num-seeds", "2", "--paired-against", "uniform,unifrom"])
    assert code == 2 and not (tmp_path / "out").exists()  # refused before anything trains
    assert "--paired-against: unifrom is not among the methods of this run (uniform, coba)" in capsys.readouterr().err
