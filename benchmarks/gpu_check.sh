#!/usr/bin/env bash
# Everything that needs a GPU, in one go (about 8 minutes on one H100/H200):
#   bash benchmarks/gpu_check.sh
# 1. tests/gpu: the trainer's host reductions under the cpu:gloo,cuda:nccl group (an NCCL-only group
#    must reject them), and short bf16 runs on CUDA: ZeRO-2 CoBa, ZeRO-3, LoRA, QLoRA (bitsandbytes).
# 2. benchmarks/gpu_step.py: tokens/s and MFU of a 1.1B model, uniform vs CoBa, LoRA vs full, fast
#    packed attention vs the additive mask.
# Output goes to stdout and to gpu_check.log (or $OUT/gpu_check.log when $OUT is set).
set -u -o pipefail
cd "$(dirname "$0")/.."
log="${OUT:-.}/gpu_check.log"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))" || exit 1
status=0
timeout 270 python -m pytest -q -x tests/gpu -p no:cacheprovider 2>&1 | tee "$log" || status=1
timeout 300 python benchmarks/gpu_step.py --steps 25 2>&1 | tee -a "$log" || status=1
exit $status
