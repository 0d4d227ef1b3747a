"""Per-task token-averaged losses: exact over any split of the global batch."""
import torch

from mft import losses


def _batch(seed, rows=4, length=6, vocab=11, tasks=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, length, vocab, generator=g, requires_grad=True)
    labels = torch.randint(0, vocab, (rows, length), generator=g)
    task_ids = (torch.arange(rows) % tasks)[:, None].expand(rows, length).clone()
    ignore = torch.rand(rows, length, generator=g) < 0.3
    labels[ignore] = losses.IGNORE
    task_ids[ignore] = losses.IGNORE
    return logits, labels, task_ids


def test_task_sums_and_counts_by_hand():
    token_loss = torch.tensor([[1.0, 2.0, 0.0], [4.0, 0.0, 8.0]])
    task_ids = torch.tensor([[0, 0, -100], [2, -100, 2]])
    assert losses.task_loss_sums(token_loss, task_ids, 3).tolist() == [3.0, 0.0, 12.0]
    assert losses.task_token_counts(task_ids, 3).tolist() == [2.0, 0.0, 2.0]


def test_token_losses_match_cross_entropy_and_ignore():
    logits, labels, _ = _batch(0)
    got = losses.token_losses(logits, labels)
    keep = labels != losses.IGNORE
    ref = torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="none")
    assert torch.allclose(got[keep], ref)
    assert (got[~keep] == 0).all()


def test_split_batch_gives_the_gradient_of_the_weighted_task_average():
    """Micro-batches weighted by GLOBAL counts sum to exactly sum_i w_i * mean_i(token loss)."""
    logits, labels, task_ids = _batch(1, rows=6)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    token = losses.token_losses(logits, labels)
    # reference: per-task means over the whole batch
    ref = sum(weights[i] * token[task_ids == i].mean() for i in range(3))
    ref_grad, = torch.autograd.grad(ref.float(), logits, retain_graph=True)
    counts = losses.task_token_counts(task_ids, 3)
    total = 0
    for part in (slice(0, 1), slice(1, 4), slice(4, 6)):  # uneven "ranks / micro-batches"
        sums = losses.task_loss_sums(token[part], task_ids[part], 3)
        total = total + losses.weighted_loss(sums, counts, weights)
    grad, = torch.autograd.grad(total, logits)
    assert torch.allclose(total.double(), ref.double(), atol=1e-6)
    assert torch.allclose(grad, ref_grad, atol=1e-7)


def test_absent_task_weights_are_renormalised():
    counts = torch.tensor([5.0, 0.0, 3.0], dtype=torch.float64)
    w = losses.present_weights(torch.tensor([0.2, 0.6, 0.2]), counts)
    assert torch.allclose(w, torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64))
    sums = torch.tensor([10.0, 0.0, 6.0])
    # 0.5 * 10/5 + 0.5 * 6/3 = 2
    assert losses.weighted_loss(sums, counts, torch.tensor([0.2, 0.6, 0.2])).item() == 2.0
