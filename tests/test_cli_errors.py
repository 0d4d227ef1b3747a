"""A user's mistake ends in one line naming the file and line (or key) and the fix, exit code 2."""
import json
import os
import sys
import time

import pytest

from launch_helpers import ROOT, TRAIN, free_port, run_process


def _config(tmp_path, task_lines, **data):
    task = tmp_path / "task.jsonl"
    task.write_text("".join(line + "\n" for line in task_lines))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n" for i in range(20)))
    cfg = {"output_dir": str(tmp_path / "out"),
           "model": {"tiny": {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
                              "num_hidden_layers": 1, "num_attention_heads": 2},
                     "tokenizer_train_vocab": 300},
           "data": {"tasks": [{"name": "good", "train": str(good), "valid_fraction": 0.2},
                              {"name": "bad", "train": str(task), "valid_fraction": 0.2}],
                    "seq_length": 32, **data},
           "deepspeed": {"zero_optimization": {"stage": 0}},
           "training": {"max_steps": 1, "micro_batch_size": 2},
           "weighting": {"method": "uniform"}, "logging": {"progress_bar": False, "tensorboard": False}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg))
    return str(path), str(task)


def _run(config, *extra, **env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **env}
    return run_process([sys.executable, TRAIN, "--config", config, *extra], env=env, timeout=300)


def _timed(config, *extra):
    start = time.monotonic()
    proc = _run(config, *extra)
    return proc, time.monotonic() - start


def _error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mft: error:")]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


def _records(n=10):
    return [json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}) for i in range(n)]


@pytest.mark.parametrize("bad_line, expected", [
    ('{"prompt": "x", "completion": ', "invalid JSON"),
    ('{"prompt": "x", "completion": 5}', "completion"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', "no answer turn"),
    (json.dumps({"prompt": "x " * 100, "completion": "y"}), "seq_length"),
])
def test_bad_record_names_file_and_line(tmp_path, bad_line, expected):
    config, task = _config(tmp_path, _records(3) + [bad_line] + _records(3))
    line = _error_line(_run(config, **NO_PROCESS_GROUP))  # found before the process group starts
    assert f"{task}:4" in line and expected in line
    assert "on_bad_record" in line or "seq_length" in line  # the fix


def test_skip_mode_counts_and_reports(tmp_path):
    config, task = _config(tmp_path, _records(8) + ["not json", '{"prompt": 1}'], on_bad_record="skip")
    proc = _run(config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped 2" in (proc.stdout + proc.stderr)


def test_empty_task_file_with_a_trained_tokenizer_fails_at_load(tmp_path):
    config, task = _config(tmp_path, [])
    proc, took = _timed(config)
    line = _error_line(proc)
    assert line == f"mft: error: {task}: file is empty (no records); add JSONL records or remove it from data.tasks[1].train[0]"
    assert took < 5, f"found after {took:.1f} s, not at load time"


def test_only_blank_text_names_the_tokenizer_key(tmp_path):
    config, task = _config(tmp_path, [json.dumps({"prompt": " ", "completion": ""})])
    line = _error_line(_run(config, "--set", f"data.tasks.0.train={task}"))
    assert line.startswith(f"mft: error: model.tokenizer_train_vocab: the training files ({task}) hold no text")


def test_vocabulary_smaller_than_the_characters_names_the_key(tmp_path):
    config, _ = _config(tmp_path, _records())
    proc, took = _timed(config, "--set", "model.tokenizer_train_vocab=100")
    line = _error_line(proc)
    assert line.startswith("mft: error: model.tokenizer_train_vocab: 100 is too small for the training data")
    needed = int(line.rsplit("at least ", 1)[1])
    assert needed > 256  # the byte pieces alone take 256
    assert "DeepSpeed" not in proc.stderr and took < 5


def test_load_errors_are_reported_by_rank_0_only(tmp_path):
    config, _ = _config(tmp_path, _records())
    quiet = _run(config, "--set", "training.lrr=1", RANK="1")
    assert quiet.returncode == 2 and quiet.stderr == "", quiet.stderr
    quiet = _run(config, "--set", "training.lrr=1", RANK="1", LOCAL_RANK="1")
    assert quiet.returncode == 2 and quiet.stderr == "", quiet.stderr
    assert "training.lrr" in _error_line(_run(config, "--set", "training.lrr=1", RANK="0"))
    # the first rank of another node: its files and cache are its own, so it reports too
    other_node = _run(config, "--set", "training.lrr=1", RANK="1", LOCAL_RANK="0")
    assert other_node.returncode == 2 and "Traceback" not in other_node.stderr
    assert [line for line in other_node.stderr.splitlines() if "mft: error:" in line] == [
        "[rank 1] mft: error: training.lrr: not a valid key; did you mean 'training.lr'? (valid keys: betas, "
        "dist_timeout_s, epochs, grad_accum, grad_clip, lr, max_nonfinite_steps, max_steps, micro_batch_size, "
        "min_lr, seed, warmup_steps, weight_decay)"]


@pytest.mark.parametrize("launcher_env, waits", [({"LOCAL_WORLD_SIZE": "2"}, True), ({"LOCAL_SIZE": "2"}, True),
                                                 ({"LOCAL_WORLD_SIZE": "1"}, False), ({}, False)])
def test_a_quiet_rank_waits_for_the_launcher_only_beside_other_ranks(monkeypatch, launcher_env, waits):
    """A rank that does not report a load error waits (torchrun's and the deepspeed launcher's
    names for the node's rank count), so that the launcher, which ends every rank once one fails,
    cannot end the reporting rank before it has printed the error."""
    from mft import cli

    for name in ("LOCAL_WORLD_SIZE", "LOCAL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in launcher_env.items():
        monkeypatch.setenv(name, value)
    slept = []
    assert cli.wait_for_the_reporting_rank(sleep=slept.append) is waits  # True: it reports after all
    assert slept == ([cli.QUIET_RANK_WAIT_S] if waits else [])
    assert cli.QUIET_RANK_WAIT_S >= 10  # long enough for a loaded machine's slower reporting rank


def test_a_quiet_rank_reports_the_error_itself_when_no_launcher_ends_it(tmp_path, monkeypatch, capsys):
    import logging

    from mft import cli

    config, _ = _config(tmp_path, _records())
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(cli, "wait_for_the_reporting_rank", lambda: True)  # waited, and is still running
    try:
        assert cli.main(["--config", config, "--set", "training.lrr=1"]) == 2
    finally:  # main routes logging to this test's captured stderr; leave no handler behind
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_mft", False)]:
            root.removeHandler(handler)
    assert "[rank 1] mft: error: training.lrr: not a valid key" in capsys.readouterr().err


def test_two_ranks_report_a_load_error_once(tmp_path):
    config, task = _config(tmp_path, [])
    launcher = os.path.join(os.path.dirname(sys.executable), "deepspeed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONWARNINGS": "ignore"}
    proc = run_process([launcher, "--num_gpus", "2", "--master_port", str(free_port()), TRAIN, "--config", config],
                       env=env, timeout=300)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "mft: error:" in line]
    assert len(lines) == 1 and task in lines[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_unknown_key_and_missing_paths(tmp_path):
    config, _ = _config(tmp_path, _records())
    assert "training.lrr: not a valid key; did you mean 'training.lr'?" in _error_line(_run(config, "--set", "training.lrr=1"))
    line = _error_line(_run(config, "--set", "data.tasks.0.train=missing.jsonl"))
    assert "missing.jsonl" in line and "not found" in line
    line = _error_line(_run(config, "--set", "model.tokenizer=nowhere", "--set", "model.tokenizer_train_vocab=0"))
    assert "nowhere" in line
    assert "no checkpoint" in _error_line(_run(config, "--resume"))


def test_resume_and_deepspeed_mistakes_are_found_before_training_starts(tmp_path):
    config, _ = _config(tmp_path, _records())
    out = tmp_path / "out"
    step = out / "checkpoints" / "step_000001"
    step.mkdir(parents=True)
    (step / "trainer_state.json").write_text(json.dumps({"tasks": ["good", "other"]}))
    line = _error_line(_run(config, "--resume", str(step)))
    assert line == (f"mft: error: --resume {step}: {step} was trained on tasks ['good', 'other'], "
                    "this config has ['good', 'bad']")
    line = _error_line(_run(config, "--resume", str(tmp_path)))
    assert f"{tmp_path} is not an mft checkpoint (no trainer_state.json)" in line
    line = _error_line(_run(config, "--set", "deepspeed.gradient_clipping=0.5"))
    assert line.startswith("mft: error: deepspeed.gradient_clipping = 0.5 conflicts with the mft config")
    assert not (out / "metrics.jsonl").exists()


@pytest.mark.parametrize("kernel", ["flex_attention", "flash_attention_2"])
def test_gpu_attention_kernel_on_cpu_names_the_key_and_the_alternative(tmp_path, kernel):
    config, _ = _config(tmp_path, _records())
    line = _error_line(_run(config, "--set", f"model.attn_implementation={kernel}"))
    assert f"model.attn_implementation: {kernel}" in line and "use sdpa" in line
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


@pytest.mark.parametrize("overrides, expected", [
    (["weighting.method=cobaa"], ["weighting.method", "did you mean 'coba'?"]),
    (["weighting.method=coba", 'weighting.params={"tua": 5}'], ["weighting.params", "did you mean 'tau'?"]),
    (["weighting.method=coba", 'weighting.params={"variant": "papper"}'], ["weighting.params.variant", "did you mean 'paper'?"]),
    (["weighting.method=dwa", 'weighting.params={"steps_per_epoch": 3}'], ["weighting.params.steps_per_epoch: set by the trainer"]),
])
def test_weighting_mistakes_fail_when_the_config_loads(tmp_path, overrides, expected):
    config, _ = _config(tmp_path, _records())
    proc, took = _timed(config, *[a for o in overrides for a in ("--set", o)])
    line = _error_line(proc)
    assert all(text in line for text in expected), line
    assert not (tmp_path / "out").exists()  # no tokenizer, no data, no DeepSpeed: the run never started
    assert took < 5, f"found after {took:.1f} s, not at load time"


def test_run_context_in_weighting_params_ends_in_one_line_before_tokenisation(tmp_path):
    # the trainer supplies num_valid_batches; as a parameter it once passed the load-time check and
    # crashed every rank after tokenisation and deepspeed.initialize ("got multiple values")
    out = tmp_path / "out"
    proc, took = _timed(os.path.join(ROOT, "configs", "demo_cpu.json"), "--set", f"output_dir={out}",
                        "--set", 'weighting.params={"num_valid_batches": 4}')
    assert _error_line(proc) == ("mft: error: weighting.params.num_valid_batches: set by the trainer from "
                                 "the run, not a parameter; remove it, got 4")
    assert not out.exists()  # no tokenizer, no data, no DeepSpeed: the run never started
    assert took < 5, f"found after {took:.1f} s, not at load time"


def test_quantization_on_cpu_and_unknown_lora_target_name_the_key(tmp_path):
    config, _ = _config(tmp_path, _records())
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    line = _error_line(_run(config, "--set", "model.tiny=null", "--set", "model.tokenizer_train_vocab=0",
                            "--set", f"model.path={folder}", "--set", "model.quantization=4bit",
                            "--set", 'model.lora={"r": 4}'))
    assert line.startswith("mft: error: model.quantization = '4bit' needs a CUDA GPU")
    line = _error_line(_run(config, "--set", 'model.lora={"target_modules": ["q_proj", "qkv"]}'))
    assert "model.lora.target_modules[1] = 'qkv' matches no linear module" in line and "o_proj, q_proj" in line
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


# A run that starts its process group with this port fails there (ValueError from the rendezvous);
# a run that stops at preflight never reads it. test_the_poisoned_port_fails_a_run_that_gets_that_far
# shows the first half, so the tests that pass it show that their error came before the process group.
NO_PROCESS_GROUP = {"MASTER_PORT": "not-a-port"}


def test_the_poisoned_port_fails_a_run_that_gets_that_far(tmp_path):
    config, _ = _config(tmp_path, _records())
    proc = _run(config, **NO_PROCESS_GROUP)
    assert proc.returncode not in (0, 2) and "not-a-port" in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("bad_line, reason, expected", [
    (json.dumps({"prompt": "x", "completion": ""}), "empty_answer", "'completion' is empty"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                              {"role": "user", "content": "and?"}]}), "ends_on_user", "ends on a user turn"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}), "bad_fields",
     "messages[1].role 'bot' is not one of"),
])
def test_records_that_would_train_the_wrong_thing_are_refused_or_counted(tmp_path, bad_line, reason, expected):
    config, task = _config(tmp_path, _records(3) + [bad_line] + _records(3))
    line = _error_line(_run(config, **NO_PROCESS_GROUP))
    assert f"{task}:4: " in line and expected in line and "on_bad_record" in line
    skipping = _run(config, "--set", "data.on_bad_record=skip", "--check", **NO_PROCESS_GROUP)
    assert skipping.returncode == 0, skipping.stderr[-3000:]
    assert "1 bad records skipped" in skipping.stdout


def test_skip_summary_names_the_first_lines(tmp_path):
    bad = ["not json", '{"prompt": 1}', json.dumps({"prompt": "x", "completion": ""}), "also not json"]
    config, task = _config(tmp_path, _records(4) + bad[:2] + _records(2) + bad[2:], on_bad_record="skip")
    proc = _run(config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "skipped 4 bad record(s)" in output
    assert f"(at {task}:5, {task}:6, {task}:9, ...)" in output  # the first three of four


def test_bad_records_are_found_before_the_process_group(tmp_path):
    config, task = _config(tmp_path, _records(3) + [json.dumps({"prompt": "x " * 100, "completion": "y"})])
    assert f"{task}:4: sample is" in _error_line(_run(config, **NO_PROCESS_GROUP))


def test_check_stops_before_the_first_step_with_a_verdict(tmp_path):
    config, _ = _config(tmp_path, _records())
    proc = _run(config, "--check", **NO_PROCESS_GROUP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mft: check passed: 2 task(s), ") and "nothing was trained" in lines[0]
    assert not (tmp_path / "out" / "checkpoints").exists() and not (tmp_path / "out" / "metrics.jsonl").exists()
    # what --check finds is what training would find: a bad DeepSpeed key, a missing model folder
    line = _error_line(_run(config, "--check", "--set", "deepspeed.gradient_clipping=0.5"))
    assert "deepspeed.gradient_clipping" in line


def test_a_hub_id_as_model_path_says_it_is_not_downloaded(tmp_path):
    config, _ = _config(tmp_path, _records())
    line = _error_line(_run(config, "--set", "model.path=microsoft/phi-1_5", "--set", "model.tiny=null", **NO_PROCESS_GROUP))
    assert "microsoft/phi-1_5 does not exist; if 'microsoft/phi-1_5' is a Hugging Face Hub id: mft does not " \
           "download models" in line and "huggingface-cli download microsoft/phi-1_5 --local-dir" in line
