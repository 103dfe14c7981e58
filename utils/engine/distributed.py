"""Distributed training helpers: torchrun environment, device choice, cross-rank reductions.

Everything reads the process layout from the environment that ``torchrun`` (``torch.distributed.run``)
sets — ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT`` — so the same code runs
on one machine or many (per-node ranks come from ``LOCAL_RANK``, never from an assumed node count). In
a plain single process every helper is a no-op, so callers never branch on "am I distributed?". The rank
queries and ``all_gather_object`` come from :mod:`utils.dist` (shared with the data and metrics code).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from utils.dist import all_gather_object, get_rank, get_world_size, is_initialized
from utils.errors import UserError

__all__ = ["DistInfo", "env_dist_info", "init_distributed", "cleanup_distributed", "all_reduce",
           "reduce_dict", "relaunch_command", "relaunch", "resolve_device",
           "is_initialized", "get_rank", "get_world_size", "all_gather_object"]  # the last four: utils.dist

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


def resolve_device(requested: str, no_cuda: bool, gpu_ids: list[int], info: DistInfo) -> torch.device:
    """The device this process trains on.

    ``auto`` picks CUDA when it is available and ``--no-cuda`` is not set, else the CPU. A CUDA device
    without an index becomes ``cuda:<LOCAL_RANK>`` under torchrun, else ``cuda:<first --gpu-ids>``.
    """
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() and not no_cuda else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if no_cuda:
            raise UserError(f"--device {requested} contradicts --no-cuda")
        if not torch.cuda.is_available():
            raise UserError(f"--device {requested}: CUDA is not available on this machine")
        if device.index is None:
            index = info.local_rank if info.distributed else (gpu_ids[0] if gpu_ids else 0)
            device = torch.device("cuda", index)
    return device
