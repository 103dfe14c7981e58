"""Heads on the shared stride-4 pivot (METHOD.md §1): mask logits, contour logits, contrastive projections."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from modeling.init import init_prediction, init_weights
from modeling.layers import conv_bn_relu

CONTOUR_HIDDEN = 64


class MaskHead(nn.Conv2d):
    """1×1 conv → one tampering logit per pixel (stride 4; the model upsamples it)."""

    def __init__(self, in_channels: int = 256) -> None:
        super().__init__(in_channels, 1, 1)
        init_prediction(self)


class ContourHead(nn.Sequential):
    """Small conv head: 3×3 conv → BN → ReLU → 1×1 conv → one contour logit per pixel."""

    def __init__(self, in_channels: int = 256, hidden: int = CONTOUR_HIDDEN) -> None:
        super().__init__(conv_bn_relu(in_channels, hidden, 3), nn.Conv2d(hidden, 1, 1))
        init_weights(self)
        init_prediction(self[-1])


class ProjectionHead(nn.Module):
    """1×1 conv → BN → ReLU → 1×1 conv, then L2 normalisation along channels (one per contrastive branch)."""

    def __init__(self, in_channels: int = 256, hidden: int = 256, embed_dim: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(conv_bn_relu(in_channels, hidden), nn.Conv2d(hidden, embed_dim, 1))
        init_weights(self)

    def forward(self, pivot: Tensor) -> Tensor:
        return F.normalize(self.mlp(pivot), dim=1)
