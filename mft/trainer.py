"""The multi-task trainer: DeepSpeed ZeRO, exact per-task losses, task weighting, early stopping.

    trainer = Trainer(load_config("configs/demo_cpu.json"), resume=None)
    summary = trainer.train()

Lifecycle: `Trainer(cfg)` builds everything (tokenizer, data, model, engine, weighting,
checkpointing, logging) and restores a checkpoint when `resume` is given; `train()` runs the step
loop; every concern the loop touches is one call into a small component.

Raises `ConfigError` / `DataError` (one line naming the key, file or line) for a user's mistake.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from data_pipeline import Collator, build_datasets, plan_rows, shard_rows

from data_pipeline.packing import first_fit, row_lengths
from data_pipeline.probe import probe_sampler

from . import losses
from .attention import check_attention, model_inputs
from .checkpoint import Checkpointer, resume_checkpoint, save_best, step_dir_name
from .config import RunConfig, deepspeed_dict
from .config_loader import ConfigError
from .distributed import (all_reduce_max, all_reduce_sum, all_reduce_sum_together, barrier, check_same_data,
                          init_distributed)
from .ds_config import engine_config
from .early_stopping import EarlyStopping, mean_loss_ratio
from .faults import StepHooks, hooks_from_env
from .grad_norms import OutputLayerInputs, task_output_grad_norms
from .losses import TaskTotals
from .metrics_log import MetricsLog
from .model import build_model, model_facts, optimizer_groups, zero3_loading
from .nonfinite import NonFiniteGuard
from .schedule import lr_factor_fn
from .stopwatch import Stopwatch
from .summary import memory_trace, proc_status_mb, run_summary, summary_text
from .task_mix import TaskMix
from .task_retirement import TaskRetirement
from .tokenizer import build_tokenizer, default_cache_dir
from .weighting import RunContext, build_weighting
from .weighting_driver import TrainSignals, WeightingDriver

logger = logging.getLogger(__name__)


@dataclass
class StepInputs:
    """What one optimizer step consumes, gathered before its first backward."""

    batches: list[dict]                # this rank's micro-batches
    task_tokens: torch.Tensor          # (K,) scored tokens per task in the global batch (float64)
    tokens: float                      # real tokens in the global batch
    controller_rows: list | None       # this rank's share of the controller batches, when measured
    val_losses: np.ndarray | None      # (K,) the controller batches' losses before the step, when measured
    val_tokens: np.ndarray | None      # (K,) the scored tokens behind val_losses (all ranks)


@dataclass
class StepResult:
    stats: dict                        # the step's entries in metrics.jsonl
    signals: TrainSignals              # what the weighting may read from it


@dataclass
class Validation:
    """One full validation pass."""

    improved: bool                     # early stopping counts this step as the new best
    mean_ratio: float                  # mean over tasks of valid loss / initial valid loss
    valid_loss: dict                   # per task
    record: dict                       # its entries in metrics.jsonl
    retired: list[int]                 # tasks retired by this validation (validation.task_patience)


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """The module in eval mode (no dropout) for a measurement, back in train mode afterwards."""
    module.eval()
    try:
        yield
    finally:
        module.train()


class Trainer:
    def __init__(self, cfg: RunConfig, *, resume: str | None = None, hooks: StepHooks | None = None):
        self.cfg = cfg
        self.dist = init_distributed(timeout_s=cfg.training.dist_timeout_s)
        self.log = logger.info  # setup_logging keeps INFO to rank 0
        check_attention(cfg.model.attn_implementation, cfg.model.dtype, self.dist.device)
        os.makedirs(cfg.output_dir, exist_ok=True)
        self.stopwatch = Stopwatch()
        self.traced_peak_mb = 0.0  # with MFT_MEMORY_TRACE=1, the peak of the phases traced so far
        self._setup_data()
        self._trace("data")
        self._setup_engine()
        self._setup_weighting()
        self.early = EarlyStopping(cfg.validation.patience, cfg.validation.min_delta)
        self.checkpoints = Checkpointer(os.path.join(cfg.output_dir, "checkpoints"),
                                        rank=self.dist.rank, keep_last=cfg.checkpoint.keep_last,
                                        frozen_base=cfg.model.lora is not None)
        self.step = 0
        self.nonfinite = NonFiniteGuard(cfg.training.max_nonfinite_steps)
        self.hooks = hooks or hooks_from_env(self.dist.rank)  # fault injection in tests; no-ops otherwise
        self.reference_losses: list[float] | None = None  # full validation before training
        self.last_valid: dict | None = None
        self.steps_timed = 0  # steps since the last metrics record (their mean time is logged)
        if resume:
            self._restore(resume)
        self.metrics = MetricsLog(cfg.output_dir, enabled=self.dist.is_main, tensorboard=cfg.logging.tensorboard,
                                  resume_step=self.step if resume else None)
        self.controller_log = MetricsLog(cfg.output_dir, enabled=self.dist.is_main, tensorboard=False,
                                         resume_step=self.step if resume else None, filename="controller.jsonl")

    # ---- set-up -------------------------------------------------------------------------------
    def _setup_data(self) -> None:
        cfg, d = self.cfg, self.cfg.data.selected()
        cache_dir = d.cache_dir or default_cache_dir()
        # the full task list: STL runs share the multi-task run's tokenizer. The cache is node-local
        # (nodes may share only output_dir): each node's local rank 0 trains the tokenizer and
        # tokenizes into it, the node's other ranks then read it (docs/design.md, "From JSONL to batches")
        self.tokenizer = build_tokenizer(cfg.model, cfg.data, cache_dir, rank=self.dist.local_rank)
        if self.dist.local_rank == 0:
            build_datasets(d, self.tokenizer, cache_dir=cache_dir, log=self.log)
        barrier()
        self.data = build_datasets(d, self.tokenizer, cache_dir=cache_dir, log=lambda *_: None)
        check_same_data(self.data.cache_path)
        self.tasks = list(self.data.task_names)
        k, seed = len(self.tasks), cfg.training.seed
        self.mix = TaskMix(cfg, self.data, world_size=self.dist.world_size, rank=self.dist.rank)  # data.mixing
        self.train_rows, self.sampler = self.mix.rows, self.mix.sampler
        valid_rows = plan_rows(self.data.valid, d.mode, d.seq_length, seed)  # by length: little padding
        self.valid_rows = [valid_rows[i] for i in np.argsort(-row_lengths(self.data.valid, valid_rows), kind="stable")]
        self.ctl_sampler = probe_sampler(cfg.weighting.probe, self.data.valid.task_ids, k, d.valid_samples_per_task,
                                         seed, batches_per_step=cfg.weighting.valid_batches,
                                         world_size=self.dist.world_size, rank=self.dist.rank)
        pad = self.tokenizer.pad_token_id
        self.collate_train = Collator(self.data.train, d.seq_length, pad)
        self.collate_valid = Collator(self.data.valid, d.seq_length, pad)
        self.total_steps = self.mix.total_steps

    def _setup_engine(self) -> None:
        import deepspeed

        cfg = self.cfg
        self.ds_config = engine_config(deepspeed_dict(cfg), cfg, self.dist.world_size)
        partitioned = zero3_loading(self.ds_config, cfg.model)  # must outlive the model's construction
        model = build_model(cfg.model, self.tokenizer, seed=cfg.training.seed, ds_config=self.ds_config,
                            device=self.dist.device)
        self._trace("model built", model_facts(model))
        groups = optimizer_groups(model, cfg.training.weight_decay)
        factor = lr_factor_fn(lr=cfg.training.lr, min_lr=cfg.training.min_lr,
                              warmup_steps=cfg.training.warmup_steps, total_steps=self.total_steps)
        self.engine, _, _, self.scheduler = deepspeed.initialize(
            model=model, model_parameters=groups, config=self.ds_config,
            lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor))
        del partitioned
        self._trace("deepspeed.initialize")
        self.output_layer = self.engine.module.get_output_embeddings()
        self.mask_dtype = torch.bfloat16 if cfg.model.dtype == "bf16" else torch.float32

    def _setup_weighting(self) -> None:
        w = self.cfg.weighting
        # run facts a method may use (CoBa's "auto" window, DWA's epoch), in controller steps
        context = RunContext(num_valid_batches=math.ceil(self.ctl_sampler.num_batches_per_pass / w.valid_batches),
                             steps_per_epoch=math.ceil(self.sampler.steps_per_epoch / w.update_interval))
        try:
            self.weighting = build_weighting(w.method, len(self.tasks), w.params, context=context)
        except ValueError as exc:  # the message names weighting.params.<key>
            raise ConfigError(str(exc)) from None
        v = self.cfg.validation
        self.retirement = TaskRetirement.create(self.tasks, patience=v.task_patience, min_delta=v.min_delta,
                                                rollback=v.rollback, retired_weight=v.retired_weight)
        self.driver = WeightingDriver(self.weighting, self.tasks, update_interval=w.update_interval,
                                      all_reduce_max=all_reduce_max, log=self.log, stopwatch=self.stopwatch,
                                      retirement=self.retirement)

    # ---- the step loop ------------------------------------------------------------------------
    def train(self) -> dict:
        """Run the steps to the end or an early stop; returns the run summary. Each step: batches ->
        weights before the step -> step -> weights after -> log -> validate -> export best -> save."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        if self.reference_losses is None:
            self._initial_validation()
            self._trace("initial validation")
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", dynamic_ncols=True,
                   disable=not (self.dist.is_main and cfg.logging.progress_bar))
        while self.step < self.total_steps and not self.early.should_stop:
            started = time.perf_counter()
            step = self.step + 1
            inputs = self._step_inputs(step)
            before = self.driver.before_step(step, inputs.val_losses)
            with self.stopwatch.time("train_step"):
                result = self._train_step(step, inputs)
            after = self.driver.after_step(step, inputs.val_losses, result.signals,
                                           remeasure=lambda which: self._remeasure(which, inputs))
            self.step = step
            self._trace(f"step {step}")
            last = step == self.total_steps
            validate_now = step % cfg.validation.interval == 0 or last
            log_now = step % cfg.logging.interval == 0 or validate_now
            controller = {**self._controller_valid_loss(inputs), **before, **after}
            if controller:  # every controller step, whatever logging.interval says
                self.controller_log.log({"step": step, **controller})
            record = self._step_record(step, controller, result, started, log_now)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            valid = self._validate() if validate_now else None
            if valid is not None:
                record.update(valid.record)
                if valid.improved:
                    self._export_best(valid)
                self._trace(f"validation and export, step {step}")
            if log_now:
                self.metrics.log(record)
            target = (self.retirement.rollback_step(valid.retired, self.checkpoints.steps())
                      if valid and not self.early.should_stop else None)
            if target is not None:
                self._rollback(target, valid.retired)
                bar.n = self.step
            elif ((cfg.checkpoint.interval and step % cfg.checkpoint.interval == 0) or last or self.early.should_stop
                  or self.retirement.wants_checkpoint(step)):
                self.save()
                self._trace(f"checkpoint, step {step}")
        bar.close()
        summary = self._summary()
        self.metrics.close()
        self.controller_log.close()
        return summary

    def _step_record(self, step: int, controller: dict, result: StepResult, started: float, log_now: bool) -> dict:
        """The step's line of metrics.jsonl (written when `log_now`): the controller's entries, the
        step's statistics and, on logged steps, the weights' spread over ranks and the mean step time."""
        record = {"step": step, **controller, **result.stats}
        if log_now:  # the replicas must agree on the weights; checked whenever a record is written
            with self.stopwatch.time("weights_check"):
                record["weights_rank_spread"] = self.driver.rank_spread()
        self.stopwatch.add("step", time.perf_counter() - started)
        self.steps_timed += 1
        if log_now:
            record["time_s"] = self.stopwatch.pop_mean(self.steps_timed)  # per step since the last record
            self.steps_timed = 0
        return record

    def _step_inputs(self, step: int) -> StepInputs:
        """This step's micro-batches and global token counts and, where the method reads validation
        losses on this step, the controller batches' rows and per-task losses.

        One all-reduce before the first backward carries the token counts (exact averages,
        docs/design.md, "One step") and the controller batches' loss sums together: with
        weighting.valid_batches = m the losses are token-weighted over all m batches.
        """
        self.mix.before_batch(step, self.driver.applied_weights())  # apply "sampling": weights -> proportions
        batches = [self.collate_train([None if i is None else self.train_rows[i] for i in mb])
                   for mb in self.sampler.next_step()]
        task_tokens, tokens = self._token_counts(batches)
        parts = [task_tokens, tokens]
        rows = self._controller_rows() if self.driver.wants_val_losses(step) else None  # on every task
        if rows is not None:
            controller = self._controller_forward(rows)  # this rank's share, before the step
            parts += [controller.sums, controller.counts]
        with self.stopwatch.time("counts_allreduce"):
            task_tokens, tokens, *controller_sums = all_reduce_sum_together(parts)
        val = val_tokens = None
        if rows is not None:
            totals = TaskTotals(*controller_sums)
            val, val_tokens = self.hooks.controller_losses(step, totals.means()), totals.counts.numpy()
        return StepInputs(batches, task_tokens, float(tokens), rows, val, val_tokens)

    def _controller_forward(self, rows: list) -> TaskTotals:
        """The controller batches' per-task loss sums and token counts on this rank, measured with
        the weights of before the step (all-reduced with the step's token counts by the caller)."""
        return self._local_task_totals(self._collate_rows(rows, self.collate_valid), "controller")

    def _token_counts(self, batches: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's scored tokens per task (K,) and all its real tokens (1,), float64."""
        per_task = torch.zeros(len(self.tasks), dtype=torch.float64)
        total = torch.zeros(1, dtype=torch.float64)
        for b in batches:
            per_task += losses.task_token_counts(b["task_ids"], len(self.tasks))
            total += b["attention_mask"].sum()
        return per_task, total

    def _train_step(self, step: int, inputs: StepInputs) -> StepResult:
        """One optimizer step over this rank's micro-batches, weighted by the current weights."""
        k, dev = len(self.tasks), self.dist.device
        needs_grads = self.weighting.needs.grad_norms
        start = time.perf_counter()
        task_tokens = inputs.task_tokens
        # 0 for a retired task; under weighting.apply "sampling" the plain token average instead
        weights = torch.as_tensor(self.mix.loss_weights(self.driver.applied_weights(), task_tokens))
        lr = self.scheduler.get_last_lr()[0]
        skipped_before = self.engine.skipped_steps
        sums = torch.zeros(k, dtype=torch.float64)
        norms = TaskTotals.zeros(k)  # output-layer gradient norms, when asked for
        for b in inputs.batches:
            task_ids, labels = b["task_ids"].to(dev), b["labels"].to(dev)
            with OutputLayerInputs(self.output_layer, enabled=needs_grads) as hidden:
                logits = self._forward(b)
            task_sums = losses.task_loss_sums(losses.token_losses(logits, labels), task_ids, k)
            if needs_grads:
                batch_norms, present = task_output_grad_norms(logits, hidden.value, labels, task_ids, k)
                norms.sums += batch_norms
                norms.counts += present.double()
            loss = losses.weighted_loss(task_sums, task_tokens.to(task_sums.device), weights.to(task_sums.device))
            loss, task_sums = self.hooks.training_loss(step, loss, task_sums)
            # DeepSpeed averages gradients over ranks: scale by world size so they sum instead
            self.engine.backward(loss * self.dist.world_size, scale_wrt_gas=False)
            # called after every micro-batch, as DeepSpeed requires; the optimizer steps (and the lr
            # schedule advances) only at the gradient-accumulation boundary, the last micro-batch
            self.engine.step()
            sums += task_sums.detach().double().cpu()
        sums = all_reduce_sum(sums)
        skipped = self.nonfinite.check(step=step, finite=bool(torch.isfinite(sums).all()),
                                       update_skipped=self.engine.skipped_steps > skipped_before,
                                       zero_stage=self.engine.zero_optimization_stage())
        if skipped:
            self.log(f"step {step}: non-finite training loss, update skipped "
                     f"({self.nonfinite.in_a_row} in a row, {self.nonfinite.total} in all)")
        task_loss = torch.where(task_tokens > 0, sums / task_tokens.clamp(min=1), torch.full_like(sums, math.nan))
        used = losses.present_weights(weights, task_tokens)
        seconds = time.perf_counter() - start
        grad_norms = None
        if needs_grads:
            grad_norms = TaskTotals(*all_reduce_sum_together([norms.sums, norms.counts])).means()
        stats = {
            "loss": float((used * torch.nan_to_num(task_loss)).sum()),
            "task_loss": self._per_task(task_loss.tolist()),
            "weights": self._per_task(used.tolist()),
            "lr": lr,
            "grad_norm": self._grad_norm(),
            "tokens_per_s": inputs.tokens / seconds,
            "epoch": self.sampler.epoch,
            **self.mix.stats(),
            "rss_mb": proc_status_mb("VmRSS"),
        }
        train_losses = task_loss.numpy()
        if skipped:
            stats.update(skipped_step=True, loss=math.nan)
            train_losses = np.full(k, math.nan)  # the batch taught nothing: no signal from it
        return StepResult(stats, TrainSignals(train_losses, grad_norms))

    def _remeasure(self, which: str, inputs: StepInputs) -> np.ndarray:
        """Per-task losses after the optimizer step on the step's own batch ("train") or on the
        controller batch ("valid"), for methods that compare before and after."""
        batches = inputs.batches if which == "train" else self._collate_rows(inputs.controller_rows, self.collate_valid)
        return self._task_losses(batches, timer="controller")

    def _controller_valid_loss(self, inputs: StepInputs) -> dict:
        if inputs.val_losses is None:
            return {}
        return {"controller_valid_loss": self._per_task(inputs.val_losses),
                "controller_tokens": self._per_task(inputs.val_tokens)}

    def _grad_norm(self) -> float | None:
        """The global gradient norm of the last optimizer step (before clipping), when DeepSpeed has it."""
        norm = self.engine.get_global_grad_norm()
        return None if norm is None else float(norm)

    def _forward(self, batch: dict) -> torch.Tensor:
        inputs = model_inputs(batch, self.cfg.model.attn_implementation, packed=self.cfg.data.mode == "pack",
                              mask_dtype=self.mask_dtype, device=self.dist.device)
        return self.engine(**inputs, use_cache=False).logits

    def _controller_rows(self) -> list:
        """This rank's share of the next weighting.valid_batches stratified validation batches, each
        packed on its own in pack mode."""
        rows = []
        for _ in range(self.cfg.weighting.valid_batches):
            batch = self.ctl_sampler.next_global_rows()
            if self.cfg.data.mode == "pack":
                samples = [row[0] for row in batch]
                batch = first_fit(samples, [int(self.data.valid.lengths[i]) for i in samples], self.cfg.data.seq_length)
            rows += batch
        rows = [rows[i] for i in np.argsort(-row_lengths(self.data.valid, rows), kind="stable")]  # little padding
        return shard_rows(rows, self.dist.world_size, self.dist.rank)

    def _collate_rows(self, rows: list, collate: Collator) -> list[dict]:
        mb = self.cfg.training.micro_batch_size
        return [collate(rows[i:i + mb]) for i in range(0, len(rows), mb)]

    def _task_losses(self, batches: list[dict], timer: str | None = None) -> np.ndarray:
        """Token-averaged loss of every task over these batches (this rank's share), all-reduced.
        With `timer`, the forward and the all-reduce are timed as `<timer>_forward` / `_allreduce`."""
        totals = self._local_task_totals(batches, timer)
        with self.stopwatch.time(timer and f"{timer}_allreduce"):
            return TaskTotals(*all_reduce_sum_together([totals.sums, totals.counts])).means()

    @torch.no_grad()
    def _local_task_totals(self, batches: list[dict], timer: str | None = None) -> TaskTotals:
        """This rank's loss sums and token counts per task over these batches."""
        k = len(self.tasks)
        totals = TaskTotals.zeros(k)
        with eval_mode(self.engine), self.stopwatch.time(timer and f"{timer}_forward"):
            for b in batches:
                token_loss = losses.token_losses(self._forward(b), b["labels"].to(self.dist.device))
                totals.sums += losses.task_loss_sums(token_loss, b["task_ids"].to(self.dist.device), k).double().cpu()
                totals.counts += losses.task_token_counts(b["task_ids"], k)
        return totals

    def _initial_validation(self) -> None:
        val = self._full_validation_losses()
        self.reference_losses = val.tolist()
        self.weighting.start(self.reference_losses)
        self.metrics.log({"step": 0, "valid_loss": self._per_task(self.reference_losses),
                          "valid_loss_ratio": self._per_task([1.0] * len(self.tasks)), "valid_mean_ratio": 1.0})
        self.log("initial validation loss: " + ", ".join(f"{t} {v:.4f}" for t, v in zip(self.tasks, self.reference_losses)))

    def _full_validation_losses(self) -> np.ndarray:
        rows = shard_rows(self.valid_rows, self.dist.world_size, self.dist.rank)
        return self._task_losses(self._collate_rows(rows, self.collate_valid))

    def _validate(self) -> Validation:
        """A full validation pass; early stopping observes its mean loss ratio over ALL tasks (a
        retired task's loss still counts in the model that ships), the per-task stop each loss."""
        val = self.hooks.validation_losses(self.step, self._full_validation_losses())
        ratio = mean_loss_ratio(val, self.reference_losses)
        valid_loss = self._per_task(val.tolist())
        improved = self.early.observe(self.step, ratio)
        retired = self.retirement.observe(self.step, val.tolist())
        sampled = bool(retired) and self.mix.exclude(self.step + 1, self.retirement.drawn)
        factor = self.retirement.retired_weight
        for i in retired:
            self.log(f"step {self.step}: task {self.tasks[i]} retired (best valid loss {self.retirement.best[i]:.4f} "
                     f"at step {self.retirement.best_step[i]}, now {val[i]:.4f})"
                     + (f"; it trains on at {factor:g} x its weight" if factor else
                        "" if sampled else "; its rows still come, weighted 0"))
        self.last_valid = {"step": self.step, "valid_loss": valid_loss}
        return Validation(improved, ratio, valid_loss, {
            "valid_loss": valid_loss,
            "valid_loss_ratio": self._per_task((val / np.asarray(self.reference_losses)).tolist()),
            "valid_mean_ratio": ratio, "best_step": self.early.best_step, **self.retirement.record(retired)},
            retired)

    def _export_best(self, valid: Validation) -> None:
        """best/: the model of the step early stopping now counts as best, as a Hugging Face folder."""
        save_best(self.engine, self.tokenizer, self.cfg.output_dir, rank=self.dist.rank,
                  info={"step": self.step, "valid_mean_ratio": valid.mean_ratio, "valid_loss": valid.valid_loss},
                  chat_template=self.cfg.data.chat_template)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"step": self.step, "tasks": self.tasks, "total_steps": self.total_steps,
                "sampler": self.sampler.state_dict(), "ctl_sampler": self.ctl_sampler.state_dict(),
                "weighting": self.weighting.state_dict(), "early_stopping": self.early.state_dict(),
                "reference_losses": self.reference_losses, "last_valid": self.last_valid,
                "nonfinite": self.nonfinite.state_dict(), "task_retirement": self.retirement.state_dict()}

    def _protected_steps(self) -> set[int]:
        """Checkpoints pruning must keep: early stopping's best, each active task's best (rollback)."""
        return self.retirement.protected_steps() | ({self.early.best_step} if self.early.best_step >= 0 else set())

    def save(self) -> str:
        started = time.perf_counter()
        path = self.checkpoints.save(self.engine, self.step, self.state_dict(), protect_step=self._protected_steps())
        self.log(f"checkpoint: {path} ({time.perf_counter() - started:.2f} s)")
        return path

    def _rollback(self, target: int, retired: list[int]) -> None:
        """Back to step `target`, where a task just retired was best (validation.rollback, mSFT):
        model, optimizer, data position, controller and RNG as they were there; the retirements
        stay, and so does early stopping's best (best/ is the best model trained on either branch;
        the new branch gets a fresh patience). Later checkpoints and records are dropped, and the
        rolled-back state is saved at once, so a resume continues the new branch."""
        now, later, early = self.step, copy.deepcopy(self.retirement), self.early.state_dict()
        self._load_state(self.checkpoints.load(self.engine, os.path.join(self.checkpoints.root, step_dir_name(target))))
        self.retirement.keep_retired(later)
        for event in self.retirement.events:
            if event["step"] == now:
                event["rolled_back_to"] = target
        self.early.load_state_dict({**early, "bad_evaluations": 0})
        self.mix.exclude(self.step + 1, self.retirement.drawn)
        self.checkpoints.drop_after(target)  # early stopping's best among them lives on in best/
        self.metrics.rewind(target)
        self.controller_log.rewind(target)
        self.metrics.log({"step": target, "rollback_from": now, "retired": [self.tasks[i] for i in retired],
                          **self.retirement.record([])})  # where the run's curves jump back
        names = ", ".join(self.tasks[i] for i in retired)
        self.log(f"step {now}: rolled back to step {target}, where {names} was best")
        self.save()

    def _restore(self, resume: str) -> None:
        path = resume_checkpoint(self.checkpoints.root, resume, self.tasks)
        state = self.checkpoints.load(self.engine, path)
        self._load_state(state)
        self.log(f"resumed from {path} at step {self.step}")

    def _load_state(self, state: dict) -> None:
        """The trainer's part of a checkpoint (the engine and RNG are loaded by the Checkpointer)."""
        self.step = state["step"]
        self.sampler.load_state_dict(state["sampler"])
        self.ctl_sampler.load_state_dict(state["ctl_sampler"])
        self.weighting.load_state_dict(state["weighting"])
        self.early.load_state_dict(state["early_stopping"])
        self.reference_losses = state["reference_losses"]
        self.last_valid = state["last_valid"]
        self.nonfinite.load_state_dict(state["nonfinite"])
        if "task_retirement" in state:  # checkpoints written before validation.task_patience have none
            self.retirement.load_state_dict(state["task_retirement"])

    def _trace(self, phase: str, facts: dict | None = None) -> None:
        peak = memory_trace(self.cfg.output_dir, self.dist.rank, phase, facts)  # resets VmHWM
        self.traced_peak_mb = max(self.traced_peak_mb, peak or 0.0)

    # ---- reporting ----------------------------------------------------------------------------
    def _per_task(self, values) -> dict:
        return dict(zip(self.tasks, (float(v) for v in values)))

    def _summary(self) -> dict:
        peak = proc_status_mb("VmHWM")
        if peak is not None:
            peak = max(peak, self.traced_peak_mb)
            peak = float(all_reduce_max(torch.tensor([peak], dtype=torch.float64))[0])  # the largest rank's
        summary = run_summary(self.cfg.output_dir, steps=self.step, stopped_early=self.early.should_stop,
                              initial_valid_loss=self._per_task(self.reference_losses), peak_rss_mb=peak,
                              checkpoints=self.checkpoints.root)
        summary["mix"] = self.mix.summary()
        summary["retired_tasks"] = self.retirement.events  # each: task, step, best_step, losses, rolled_back_to
        if self.dist.is_main:
            with open(os.path.join(self.cfg.output_dir, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
            self.log(summary_text(summary))
        return summary
