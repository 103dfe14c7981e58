"""Samplers for the cases DistributedSampler does not cover.

- :class:`ShardSampler`: rank ``r`` of ``n`` takes indices ``r, r+n, ...`` — no padding, no repeats, so
  distributed evaluation counts every image exactly once.
- :class:`EpochSampler`: the same shards, shifted by ``epoch * length``, for generated datasets whose
  index picks the sample (a new epoch gives new images).
"""
from __future__ import annotations

from typing import Iterator

from torch.utils.data import Sampler


class ShardSampler(Sampler[int]):
    """This rank's shard of ``0..length-1`` in order, without padding."""

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.length = length
        self.num_replicas = num_replicas
        self.rank = rank

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.num_replicas))


class EpochSampler(ShardSampler):
    """Indices ``epoch*length + i`` for this rank's shard ``i``: fresh generated samples every epoch.

    The epoch advances by itself after each pass; ``set_epoch`` (as DistributedSampler) overrides it,
    e.g. when resuming.
    """

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(length, num_replicas, rank)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select which epoch's samples the next pass yields."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * self.length
        self.epoch += 1
        return iter([offset + i for i in super().__iter__()])
