"""Per-task gradient norms of the output layer, for GradNorm-style weighting.

For logits z_t = W h_t (+ b), the gradient of task i's mean cross entropy with respect to W is
    grad_W l_i = (1/n_i) sum_{t in task i} (softmax(z_t) - onehot(y_t)) h_t^T,
so the K norms need only the logits and the output layer's INPUTS h, detached: the transformer is
not re-entered and no autograd call runs per task (with tied input/output embeddings a naive
autograd.grad per task would run a full backward each time). One task at a time, nothing V x H
is kept. Norms are computed per micro-batch on each rank and averaged over the micro-batches and
ranks where the task is present: an estimate of the global-batch norm, exact with one micro-batch
on one rank.
"""
from __future__ import annotations

import torch



class OutputLayerInputs:
    """Context manager: records the (detached) input of `layer` at every forward (if enabled)."""

    def __init__(self, layer: torch.nn.Module, enabled: bool = True):
        self.layer = layer
        self.enabled = enabled
        self.value: torch.Tensor | None = None
        self._handle = None

    def __enter__(self) -> "OutputLayerInputs":
        if self.enabled:
            self._handle = self.layer.register_forward_hook(self._hook)
        return self

    def _hook(self, module, inputs, output) -> None:
        self.value = inputs[0].detach()

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()


@torch.no_grad()
def task_output_grad_norms(logits: torch.Tensor, hidden: torch.Tensor, labels: torch.Tensor,
                           task_ids: torch.Tensor, num_tasks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(norms, present): || grad_W l_i || per task over this batch's tokens, and which tasks had any.

    logits (B, L, V), hidden (B, L, H), labels and task_ids (B, L) with IGNORE where no loss.
    """
    norms = torch.zeros(num_tasks, dtype=torch.float64)
    present = torch.zeros(num_tasks, dtype=torch.bool)
    for i in range(num_tasks):
        sel = task_ids == i
        n = int(sel.sum())
        if n == 0:
            continue
        a = torch.softmax(logits[sel].float(), dim=-1)            # (n, V)
        a[torch.arange(n, device=a.device), labels[sel]] -= 1.0    # softmax - onehot
        h = hidden[sel].float()                                    # (n, H)
        v, d = a.shape[1], h.shape[1]
        if n * n * (v + d) < n * v * d:   # ||A^T H||_F^2 = sum((A A^T) * (H H^T)), cheaper for few tokens
            sq = ((a @ a.T) * (h @ h.T)).sum()
        else:
            sq = (a.T @ h).square().sum()
        norms[i] = float(sq.clamp(min=0).sqrt()) / n
        present[i] = True
    return norms, present
