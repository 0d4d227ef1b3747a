"""`check_same_data` on two real gloo ranks: nodes that tokenized the same cache entry go on; a
node whose entry differs (other data files, another tokenizer) stops every rank with one line,
instead of training on other tokens."""
import os

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from launch_helpers import free_port


SAME = ["/node0/cache/abc123", "/node1/cache/abc123"]  # another folder, the same entry
DIFFERENT = ["/node0/cache/abc123", "/node1/cache/def456"]


def _rank(rank: int, port: int, results) -> None:
    from data_pipeline import DataError
    from mft.distributed import check_same_data

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        for case, entries in enumerate((SAME, DIFFERENT)):
            try:
                check_same_data(entries[rank])
                results[2 * case + rank] = "ok"
            except DataError as exc:
                results[2 * case + rank] = str(exc)
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
def test_ranks_with_the_same_entry_go_on_and_a_different_one_stops_all():
    with mp.Manager() as manager:
        results = manager.list([None] * 4)
        mp.spawn(_rank, args=(free_port(), results), nprocs=2)
        same, different = list(results)[:2], list(results)[2:]
    assert same == ["ok", "ok"]
    assert all("the ranks tokenized different data" in e and "every node must have the same data files" in e
               for e in different), different
    assert "def456 on rank 1, abc123 on rank 0" in different[1]
