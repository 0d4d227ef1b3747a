"""Property-based fuzzing of the inputs users hand us: data files and configs.

Data: random, truncated, wrongly typed, non-UTF-8 and huge records. Either the pipeline yields
valid batches (loss mask and task ids aligned with tokens, no attention across packed samples,
every sample seen exactly once per epoch across ranks) or it raises DataError; never anything else.
Configs: random invalid edits give ConfigError naming a key; never anything else.
"""
import json

import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from data_pipeline import (Collator, DataConfig, DataError, GlobalBatchSampler, TaskConfig, block_causal_mask,
                           build_datasets, plan_rows)
from mft.config import load_config
from mft.config_loader import ConfigError

from data_fixtures import spm_dir, tokenizer  # noqa: F401  (session fixtures)

GOOD = [{"prompt": "write code", "completion": "return x + 1"},
        {"messages": [{"role": "user", "content": "sum"}, {"role": "assistant", "content": "max"}]},
        {"chat_rounds": [{"role": "human", "content": "a"}, {"role": "bot", "content": "b"}]}]

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
                           max_leaves=8)
records = st.one_of(
    st.sampled_from(GOOD).map(lambda r: json.dumps(r).encode()),
    st.sampled_from(GOOD).map(lambda r: json.dumps(r).encode()).flatmap(
        lambda b: st.integers(1, max(1, len(b) - 1)).map(lambda n: b[:n])),              # truncated
    json_values.map(lambda v: json.dumps(v).encode()),                                    # wrong shapes and types
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),          # random bytes, non-UTF-8
    st.sampled_from(GOOD).map(lambda r: json.dumps({**r, "completion": "x " * 400} if "prompt" in r else r).encode()),  # huge
    st.dictionaries(st.sampled_from(["prompt", "completion", "messages", "chat_rounds"]), json_values,
                    max_size=3).map(lambda d: json.dumps(d).encode()),                    # right keys, wrong values
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(records, min_size=1, max_size=12), skip=st.booleans(), mode=st.sampled_from(["padding", "pack"]))
def test_data_pipeline_yields_valid_batches_or_data_error(tmp_path_factory, tokenizer, lines, skip, mode):  # noqa: F811
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.jsonl"
    good.write_text("".join(json.dumps(GOOD[i % 3]) + "\n" for i in range(12)))
    fuzzed = folder / "fuzzed.jsonl"
    fuzzed.write_bytes(b"\n".join(lines) + b"\n")
    cfg = DataConfig(tasks=[TaskConfig("good", [str(good)], valid_fraction=0.25),
                            TaskConfig("fuzzed", [str(fuzzed)], valid=[str(good)])],
                     mode=mode, seq_length=64, on_bad_record="skip" if skip else "error")
    try:
        data = build_datasets(cfg, tokenizer, log=lambda *_: None)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    rows = plan_rows(data.train, mode, 64, seed=0)
    collate = Collator(data.train, 64, tokenizer.pad_token_id)
    seen = []
    for rank in range(2):
        sampler = GlobalBatchSampler(len(rows), world_size=2, rank=rank, micro_batch_size=2, grad_accum=1,
                                     seed=0, drop_last=False)
        for _ in range(sampler.steps_per_epoch):
            for micro in sampler.next_step():
                batch = collate([None if i is None else rows[i] for i in micro])
                _check_batch(batch, data.train)
                seen += [s for i in micro if i is not None for s in rows[i]]
    assert sorted(seen) == list(range(len(data.train)))  # every sample exactly once per epoch


def _check_batch(batch, split):
    labels, task_ids, ids, seg = batch["labels"], batch["task_ids"], batch["input_ids"], batch["segment_ids"]
    assert ((labels == -100) == (task_ids == -100)).all()
    learn = labels != -100
    # a label is the next token of the same sample
    assert (labels[:, :-1][learn[:, :-1]] == ids[:, 1:][learn[:, :-1]]).all()
    assert (seg[:, :-1][learn[:, :-1]] == seg[:, 1:][learn[:, :-1]]).all()
    assert not learn[:, -1].any()
    mask = block_causal_mask(seg, torch.float32)[:, 0]
    allowed = mask == 0
    same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] > 0)
    causal = torch.ones_like(allowed).tril().bool()
    real = seg > 0
    assert not (allowed & ~(same & causal) & real[:, :, None]).any()  # no attention across samples or ahead
    assert ((task_ids[learn] >= 0) & (task_ids[learn] < split.num_tasks)).all()


RUN = {"output_dir": "out", "model": {"tiny": {"model_type": "llama"}, "tokenizer_train_vocab": 300},
       "data": {"tasks": [{"name": "a", "train": ["a.jsonl"], "valid_fraction": 0.1}]},
       "training": {"lr": 1e-4}, "weighting": {"method": "coba"}, "validation": {"interval": 10}}
SECTIONS = ["model", "data", "training", "weighting", "validation", "checkpoint", "logging"]
bad_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5),
                       st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(SECTIONS + [None]), key=st.text(min_size=1, max_size=12).filter(lambda k: "." not in k),
       value=bad_values, known=st.booleans())
def test_invalid_configs_give_config_error_naming_a_key(tmp_path_factory, section, key, value, known):
    raw = json.loads(json.dumps(RUN))
    if known:  # a wrong value for a real key
        from mft import config as c
        classes = {"model": c.ModelConfig, "training": c.TrainingConfig, "weighting": c.WeightingConfig,
                   "validation": c.ValidationConfig, "checkpoint": c.CheckpointConfig, "logging": c.LoggingConfig,
                   "data": DataConfig, None: c.RunConfig}
        import dataclasses
        names = [f.name for f in dataclasses.fields(classes[section])]
        key = names[len(key) % len(names)]
    target = raw if section is None else raw.setdefault(section, {})
    target[key] = value
    path = tmp_path_factory.mktemp("cfg") / "run.json"
    path.write_text(json.dumps(raw))
    try:
        load_config(str(path))
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message
        assert key in message or (section and section in message) or "model." in message or "training." in message \
            or "output_dir" in message, message
