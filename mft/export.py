"""Export the engine's model as a Hugging Face folder (loadable by `from_pretrained`)."""
from __future__ import annotations

import os
import shutil

from .distributed import barrier


def export_hf(engine, tokenizer, out_dir: str, *, rank: int) -> None:
    """Write model weights, config and tokenizer to `out_dir` atomically (collective call).

    Under ZeRO-3 the parameters are sharded: they are gathered, one full copy at a time on
    every rank, for the duration of the save (fine for models that fit in host memory).
    """
    model = engine.module
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # "Writing model shards" bars would interleave with the training bar
    tmp = out_dir.rstrip("/") + ".tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    if engine.zero_optimization_stage() == 3:
        import deepspeed
        # release what the last forward prefetched: a parameter still in flight cannot be gathered
        # (it happens when stage3_max_live_parameters is below the model's size)
        engine.empty_partition_cache()
        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            if rank == 0:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    elif rank == 0:
        state = model.state_dict()
    if rank == 0:
        model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    barrier()
