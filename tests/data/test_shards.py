"""The data of W processes (DDP): each rank's share of a shuffled training split, whose k-th batches together are
the k-th batch of one process with W times the batch size; evaluation shards that count every sample once."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from c147.data.base import DeviceLoader, ResumableDataLoader, ResumableRandomSampler, ShardSampler


@pytest.mark.parametrize("size, world, batch", [(64, 2, 8), (50, 2, 8), (23, 3, 4), (7, 4, 2)])
def test_the_ranks_batches_together_are_one_process_batch(size, world, batch):
    one = ResumableRandomSampler(size, seed=5)
    ranks = [ResumableRandomSampler(size, seed=5, num_replicas=world, rank=r) for r in range(world)]
    for epoch in (0, 3):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        whole = one.order()
        shares = [s.order() for s in ranks]
        assert len({len(s) for s in shares}) == 1 and len(shares[0]) == len(ranks[0])  # equal step counts
        padded = torch.cat([whole, whole[: len(shares[0]) * world - size]])  # DistributedSampler's padding
        for k in range(0, len(shares[0]), batch):
            together = torch.cat([s[k : k + batch] for s in shares])
            expected = padded[k * world : (k + batch) * world]
            assert sorted(together.tolist()) == sorted(expected.tolist()), (epoch, k)


def test_the_shares_equal_torch_distributed_sampler_positions():
    # the same interleaving as torch's DistributedSampler (over our permutation): rank r takes positions r, r+W, ...
    data = list(range(23))
    ours = [list(ResumableRandomSampler(23, seed=0, num_replicas=3, rank=r)) for r in range(3)]
    order = list(ResumableRandomSampler(23, seed=0))
    theirs = [[order[i] for i in DistributedSampler(data, num_replicas=3, rank=r, shuffle=False)] for r in range(3)]
    assert ours == theirs


def test_a_rank_resumed_mid_epoch_skips_its_own_batches():
    data = TensorDataset(torch.arange(40))
    loader = ResumableDataLoader(data, batch_size=4, sampler=ResumableRandomSampler(40, 1, num_replicas=2, rank=1))
    loader.sampler.set_epoch(2)
    full = [b[0].tolist() for b in loader]
    resumed = ResumableDataLoader(data, batch_size=4, sampler=ResumableRandomSampler(40, 1, num_replicas=2, rank=1))
    resumed.load_state_dict({"epoch": 2, "batches": 2})
    resumed.sampler.set_epoch(2)
    assert [b[0].tolist() for b in resumed] == full[2:]


@pytest.mark.parametrize("size, world", [(10, 2), (11, 2), (7, 3), (2, 4)])
def test_evaluation_shards_count_every_sample_once(size, world):
    shards = [list(ShardSampler(size, world, r)) for r in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(size))
    assert [len(ShardSampler(size, world, r)) for r in range(world)] == [len(s) for s in shards]
    assert all(isinstance(ShardSampler(size, world, r), DistributedSampler) for r in range(world))  # Lightning: kept


def test_a_device_loader_takes_its_shard():
    data = TensorDataset(torch.arange(11.0)[:, None], torch.arange(11))
    loader = DeviceLoader(data, 4, ShardSampler(11, 2, 1), lambda: torch.device("cpu"))
    assert [y.tolist() for _, y in loader] == [[1, 3, 5, 7], [9]] and len(loader) == 2
    plain = DataLoader(data, batch_size=4, sampler=ShardSampler(11, 2, 1))
    assert [y.tolist() for _, y in plain] == [[1, 3, 5, 7], [9]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=-1), "size must be a non-negative integer, got -1"),
    (dict(size=4, num_replicas=0), "num_replicas must be a positive integer, got 0"),
    (dict(size=4, num_replicas=2, rank=2), "rank must be in [0, 1], got 2"),
])
def test_bad_shards_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ResumableRandomSampler(**kwargs)
