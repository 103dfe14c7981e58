"""Process-group queries shared by the engine, the data loaders and the metrics.

Each helper works without a process group too (rank 0 of a world of one), so callers never branch on
"am I distributed?". The torchrun environment and the collectives of training live in
:mod:`utils.engine.distributed`.
"""
from __future__ import annotations

from typing import Any

import torch.distributed as dist


def is_initialized() -> bool:
    """Whether a torch.distributed process group is up (False where torch lacks distributed support)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def get_world_size(group: Any = None) -> int:
    """The number of processes in ``group`` (the default group when None; 1 without a process group)."""
    return dist.get_world_size(group) if is_initialized() else 1


def all_gather_object(obj: Any, group: Any = None) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order (``[obj]`` in a single process)."""
    if get_world_size(group) == 1:
        return [obj]
    gathered: list[Any] = [None] * get_world_size(group)
    dist.all_gather_object(gathered, obj, group=group)
    return gathered
