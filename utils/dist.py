"""Processes of a distributed job: the torchrun layout, rank queries, collectives and relaunching.

Everything reads the process layout from the environment that ``torchrun`` (``torch.distributed.run``)
sets — ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT`` — so the same code runs
on one machine or many (per-node ranks come from ``LOCAL_RANK``, never from an assumed node count). In a
plain single process every helper is a no-op (rank 0 of a world of one), so callers never branch on
"am I distributed?". Shared by the training engine, the data loaders and the metrics.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: global rank, rank on its node, and number of processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, writes TensorBoard and saves checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process: DDP, a DistributedSampler and cross-rank reductions are in use."""
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """The layout torchrun announced in the environment (a single process when it set nothing)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
    )


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


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun set up (``nccl`` on CUDA, ``gloo`` otherwise); no-op when alone."""
    info = env_dist_info()
    if info.distributed and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def cleanup_distributed() -> None:
    """Leave the process group, if any (lets the job exit without NCCL/gloo warnings)."""
    if is_initialized():
        dist.destroy_process_group()


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` in place across ranks with ``op`` in {sum, min, max}; returns it."""
    if is_initialized():
        dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN,
                                    "max": dist.ReduceOp.MAX}[op])
    return tensor


def reduce_dict(values: dict[str, torch.Tensor], average: bool = True) -> dict[str, torch.Tensor]:
    """Sum (or average) scalar tensors across ranks in one collective; every rank gets the result.

    All ranks must pass the same keys; the order is fixed by sorting so it never depends on insertion.
    """
    if not is_initialized() or not values:
        return values
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    all_reduce(stacked)
    if average:
        stacked /= get_world_size()
    return dict(zip(keys, stacked))


def relaunch_command(gpu_ids: list[int], script: str, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The torchrun command (and environment) that runs ``script argv`` once per GPU in ``gpu_ids``.

    ``CUDA_VISIBLE_DEVICES`` restricts each worker to the chosen GPUs, so worker ``LOCAL_RANK`` k uses
    ``gpu_ids[k]``.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={len(gpu_ids)}", script, *argv]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in gpu_ids)}
    return command, env


def relaunch(gpu_ids: list[int], script: str, argv: list[str]) -> int:
    """Run the job under torchrun on ``gpu_ids`` (for ``python train.py --gpu-ids 0,1``); its exit code."""
    command, env = relaunch_command(gpu_ids, script, argv)
    return subprocess.call(command, env=env)
