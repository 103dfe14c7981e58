"""Device-dependent precision choice, shared by training (``--amp``) and inference (``test.py --amp``)."""
from __future__ import annotations

import torch


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision dtype for ``device``: float16 on CUDA (with a loss scaler when training),
    bfloat16 elsewhere (CPU autocast supports it and needs no scaler)."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16
