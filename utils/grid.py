"""Positions on a (B,C,h,w) feature grid as flat indices over B·h·w (batch-major, then row, column): the
convention shared by the patch sampling of the losses and the model's projection of sampled patches."""
from __future__ import annotations

import torch


def gather_positions(feature: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The (n, C) feature vectors of a (B,C,h,w) tensor at flat positions ``index`` (n,).

    Indexes the tensor in place, so no (B·h·w, C) copy of the feature map is made.
    """
    _, _, h, w = feature.shape
    b, rest = index // (h * w), index % (h * w)
    return feature[b, :, rest // w, rest % w]
