"""Process-group set-up and the few collectives the trainer needs.

Under the `deepspeed` launcher (or torchrun) the environment names the rank; a plain
`python launch/train.py` runs as a single rank, for which the environment is filled in here
(DeepSpeed otherwise looks for mpi4py). On CPU the ranks talk over gloo.

On CUDA the group has two backends, `cpu:gloo,cuda:nccl`: DeepSpeed's gradient and parameter
collectives run on GPU tensors over NCCL, while the trainer's small float64 reductions (token
counts, loss sums, controller losses, the weights' rank-spread check, the summary) stay exact and
on the host over gloo. NCCL alone rejects CPU tensors ("No backend type associated with device
type cpu"), and world size 1 skips every collective, so one GPU would not show it.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .shm_comm import load_comm_op, unlink_shm_buffer


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_group_backend(cuda: bool) -> str:
    """The backend string of the default process group: CPU tensors always have gloo."""
    return "cpu:gloo,cuda:nccl" if cuda else "gloo"


def init_distributed(timeout_s: float = 3600.0) -> DistInfo:
    """Join (or create) the default process group and pick this rank's device.

    `timeout_s` bounds how long a collective waits for the other ranks; it must cover rank 0
    tokenising a large data set alone while the others wait at a barrier.
    """
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=os.environ.get("MASTER_PORT", str(_free_port())))
    import deepspeed  # imported here: it is slow and prints on import

    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        if "OMP_NUM_THREADS" not in os.environ:  # ranks share the cores; oversubscription is 5-10x slower
            # torchrun says LOCAL_WORLD_SIZE, the deepspeed launcher LOCAL_SIZE: ranks on this node
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("LOCAL_SIZE")
                              or os.environ.get("WORLD_SIZE") or 1)
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        cuda = device.type == "cuda"
        if not cuda:
            load_comm_op()  # before DeepSpeed builds it: safe against a stale build lock
        deepspeed.init_distributed(dist_backend=process_group_backend(cuda), timeout=timedelta(seconds=timeout_s))
        if not cuda:
            barrier()  # every rank has mapped every rank's shm buffer by now
            unlink_shm_buffer(dist.get_rank())
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks in place (float64 tensors travel as they are) and return it."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_sum_together(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each float64 tensor summed over all ranks, in ONE all-reduce (one latency, not one per part)."""
    return list(all_reduce_sum(torch.cat(parts)).split([p.numel() for p in parts]))


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over all ranks, in place; returns the tensor."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    """Rank `src`'s object on every rank."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def check_same_data(cache_entry: str | None) -> None:
    """Raise DataError on every rank unless every rank tokenized the same data set as rank 0.

    Each node tokenizes into its own cache, whose entry name is a hash of the data files'
    contents, the tokenizer and the data settings: a node with other files (a stale copy, another
    version of the data set) would otherwise train on other tokens without a word."""
    from data_pipeline import DataError

    key = os.path.basename(cache_entry) if cache_entry else None
    reference = broadcast_object(key)
    differs = all_reduce_max(torch.tensor([float(key != reference)], dtype=torch.float64))
    if differs[0] > 0:
        raise DataError(f"the ranks tokenized different data (cache entry {key} on rank {dist.get_rank()}, "
                        f"{reference} on rank 0): every node must have the same data files and tokenizer")
