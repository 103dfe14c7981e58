"""Loss precision: compute in float32 at least, whatever the activations' dtype."""
from __future__ import annotations

import torch


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Upcast half/bfloat16 to float32 for a stable loss; float64 stays float64 (for gradcheck)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
