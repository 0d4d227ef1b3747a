"""Output-layer gradient norms per task equal autograd's, without re-entering the model."""
import torch

from mft.grad_norms import OutputLayerInputs, task_output_grad_norms


def _setup(tokens_per_task=(5, 0, 3), vocab=7, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(dim, vocab, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(vocab, dim, generator=g))
    total = sum(tokens_per_task) + 2
    hidden = torch.randn(1, total, dim, generator=g)
    labels = torch.randint(0, vocab, (1, total), generator=g)
    task_ids = torch.full((1, total), -100)
    pos = 0
    for task, n in enumerate(tokens_per_task):
        task_ids[0, pos:pos + n] = task
        pos += n
    labels[task_ids == -100] = -100
    return layer, hidden, labels, task_ids


def test_matches_autograd_per_task():
    layer, hidden, labels, task_ids = _setup()
    with OutputLayerInputs(layer) as captured:
        logits = layer(hidden)
    assert torch.equal(captured.value, hidden)
    norms, present = task_output_grad_norms(logits, captured.value, labels, task_ids, 3)
    assert present.tolist() == [True, False, True]
    for i in (0, 2):
        sel = task_ids == i
        loss = torch.nn.functional.cross_entropy(layer(hidden)[sel], labels[sel])
        grad, = torch.autograd.grad(loss, layer.weight)
        assert abs(norms[i].item() - grad.norm().item()) < 1e-5
    assert norms[1] == 0


def test_gram_and_direct_forms_agree():
    # many tokens, small vocab -> direct form; few tokens, big vocab -> Gram form; both equal autograd
    for tokens, vocab in (((40, 30, 20), 5), ((2, 1, 1), 500)):
        layer, hidden, labels, task_ids = _setup(tokens, vocab=vocab, dim=8, seed=3)
        logits = layer(hidden)
        norms, _ = task_output_grad_norms(logits, hidden, labels, task_ids, 3)
        for i in range(3):
            sel = task_ids == i
            grad, = torch.autograd.grad(torch.nn.functional.cross_entropy(layer(hidden)[sel], labels[sel]), layer.weight)
            assert abs(norms[i].item() - grad.norm().item()) < 1e-4 * max(1.0, grad.norm().item())
