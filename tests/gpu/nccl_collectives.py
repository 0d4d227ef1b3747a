"""Run as one process: the trainer's host reductions through the group `init_distributed` makes
on CUDA, then the same reduction through an NCCL-only group, which must reject CPU tensors.
Prints one line per check; exits non-zero on the first failure."""
import sys

import torch
import torch.distributed as dist

from mft.distributed import init_distributed

info = init_distributed(timeout_s=120)
assert info.device.type == "cuda", info.device
counts = torch.tensor([3.0, 4.5, 1e-17], dtype=torch.float64)  # the kind of tensor the trainer reduces
dist.all_reduce(counts, op=dist.ReduceOp.SUM)  # world size 1: mft's helpers would skip the call
dist.all_reduce(counts, op=dist.ReduceOp.MAX)
assert counts.tolist() == [3.0, 4.5, 1e-17] and counts.device.type == "cpu"
box = [{"summary": 1}]
dist.broadcast_object_list(box, src=0)
dist.barrier()
gpu = torch.ones(4, device=info.device)
dist.all_reduce(gpu)  # DeepSpeed's side: CUDA tensors over NCCL
print("default group: CPU float64 and CUDA all-reduces ok")
nccl_only = dist.new_group(ranks=[0], backend="nccl")
try:
    dist.all_reduce(torch.zeros(2, dtype=torch.float64), group=nccl_only)
except (RuntimeError, ValueError) as exc:
    print(f"nccl-only group rejects CPU tensors: {str(exc).splitlines()[0]}")
else:
    print("nccl-only group accepted a CPU tensor: the test cannot show the rejection")
    sys.exit(2)
dist.destroy_process_group()
