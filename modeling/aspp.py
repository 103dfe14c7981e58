"""Atrous Spatial Pyramid Pooling (DeepLabv3): parallel dilated convs plus image-level pooling.

Rates follow the output stride: 6/12/18 at 16, 12/24/36 at 8. The image-pooling branch has no batch
norm (a 1×1 conv with bias + ReLU): with a pooled 1×1 map, batch norm would see one value per channel for
a batch of one and fail in training mode, and its statistics would be noisy for small batches anyway.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.init import init_weights
from modeling.layers import conv_bn_relu, spatial_conv

ATROUS_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class ImagePooling(nn.Module):
    """Global average pool → 1×1 conv (bias, no BN) → ReLU, broadcast back to the input size."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = F.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))
        return pooled.expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """ASPP for ``in_channels`` features at ``output_stride``; returns ``out_channels`` at the same size.
    ``separable`` makes the atrous branches depthwise-separable."""

    def __init__(self, in_channels: int, output_stride: int = 16, out_channels: int = 256,
                 separable: bool = False) -> None:
        super().__init__()
        rates = ATROUS_RATES[output_stride]
        atrous = spatial_conv(separable)
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_channels, out_channels)]
            + [atrous(in_channels, out_channels, 3, rate) for rate in rates]
            + [ImagePooling(in_channels, out_channels)]
        )
        self.project = nn.Sequential(
            conv_bn_relu(out_channels * len(self.branches), out_channels), nn.Dropout(0.5)
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
