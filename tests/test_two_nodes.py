"""Two nodes, simulated on this machine: two `deepspeed --no_ssh --node_rank i` launchers of one
rank each, every node with its own cache, temp folder and extension folder, sharing only the
output folder, as on a cluster whose nodes share only the run folder (docs/experiments.md).

Before the fix, node 1 stopped at once: rank 0 had trained the tokenizer into node 0's cache
("tokenizer directory not found"), and only rank 0 tokenized the data.
"""
import os
import shutil

import pytest
import torch

from launch_helpers import final_params, read_metrics, run_train, run_two_nodes

pytestmark = pytest.mark.distributed

COMMON = ["logging.progress_bar=false", "logging.interval=1", "training.max_steps=4", "validation.interval=2",
          "checkpoint.interval=2", "checkpoint.keep_last=3", "data.mode=padding", "data.seq_length=64",
          'weighting.params={"history_window": 4, "warmup_steps": 1}']
VOLATILE = ("tokens_per_s", "time_s", "rss_mb")


def _stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def test_two_nodes_train_as_one_process_and_resume(tmp_path):
    """The same global batch of 4 on 1 process and on 2 nodes x 1 rank x micro-batch 2: the same
    losses, CoBa weights and parameters. Cut back to the step-2 checkpoint in the shared folder
    and resumed on both nodes, the run ends bit for bit where the uninterrupted one ended."""
    one, shared, nodes = tmp_path / "one", tmp_path / "shared", tmp_path / "nodes"
    run_train([f"output_dir={one}", f"data.cache_dir={tmp_path / 'cache'}", "training.micro_batch_size=4"] + COMMON,
              ranks=1)
    two = [f"output_dir={shared}", "training.micro_batch_size=2"] + COMMON
    run_two_nodes(two, root=str(nodes))

    caches = [sorted(os.listdir(nodes / f"node{n}" / "cache")) for n in (0, 1)]
    assert caches[0] == caches[1] and len(caches[0]) == 2, caches  # each node tokenized the same entry itself
    a, b = read_metrics(str(one)), read_metrics(str(shared))
    assert [r["step"] for r in a] == [r["step"] for r in b] == [0, 1, 2, 3, 4]
    for r1, r2 in zip(a[1:], b[1:]):
        assert r1["loss"] == pytest.approx(r2["loss"], abs=1e-5)
        assert r1["grad_norm"] == pytest.approx(r2["grad_norm"], rel=1e-5)
        assert r1["weights"] == pytest.approx(r2["weights"], abs=1e-5)  # CoBa amplifies fp32 forward rounding
        assert r2["weights_rank_spread"] == 0.0
    assert len({tuple(r["weights"].values()) for r in b[1:]}) > 1  # CoBa moved the weights on both nodes alike
    p1, p2 = final_params(str(one)), final_params(str(shared))
    worst = max((p1[k].float() - p2[k].float()).abs().max().item() for k in p1)
    assert worst < 1e-5, f"parameters differ by {worst}"
    assert (shared / "best" / "config.json").exists()
    ckpt = shared / "checkpoints" / "step_000004"
    assert {f"rng_rank{r}.pt" for r in (0, 1)} <= set(os.listdir(ckpt))  # each node's rank wrote its own state

    part = tmp_path / "part"
    shutil.copytree(shared, part)
    shutil.rmtree(part / "checkpoints" / "step_000004")
    shutil.rmtree(part / "best")
    (part / "checkpoints" / "latest").write_text("step_000002")
    run_two_nodes([f"output_dir={part}"] + two[1:], root=str(nodes), resume="latest")
    assert _stable(read_metrics(str(part))) == _stable(b)
    pa, pb = final_params(str(shared)), final_params(str(part))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
