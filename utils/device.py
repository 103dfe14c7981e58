"""The device a process runs on and its mixed-precision dtype, shared by training, test.py and the demo."""
from __future__ import annotations

from typing import Sequence

import torch

from utils.dist import DistInfo
from utils.errors import UserError

TRAIN_AMP_DEFAULT = True  # train.py: mixed precision unless --no-amp
EVAL_AMP_DEFAULT = False  # test.py: float32, like train.py's validation (bf16 probabilities are too coarse
                          # for threshold-free scores such as AUC); --amp opts in


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision dtype for ``device``: float16 on CUDA (with a loss scaler when training),
    bfloat16 elsewhere (CPU autocast supports it and needs no scaler)."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def resolve_device(requested: str, no_cuda: bool, gpu_ids: Sequence[int], info: DistInfo) -> torch.device:
    """The device this process runs on (training, test.py, the demo).

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
