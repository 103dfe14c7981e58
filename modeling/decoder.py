"""DeepLabv3+ decoder: fuse upsampled ASPP features with reduced stride-4 low-level features.

The result is the 256-channel stride-4 "pivot" that every head reads (METHOD.md §1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.init import init_weights
from modeling.layers import conv_bn_relu, spatial_conv

LOW_LEVEL_REDUCED = 48


class Decoder(nn.Module):
    """Low level → 1×1 conv to 48 channels; concat with ASPP output upsampled to stride 4; two 3×3 convs
    (depthwise-separable with ``separable``)."""

    def __init__(self, low_level_channels: int, aspp_channels: int = 256, out_channels: int = 256,
                 separable: bool = False) -> None:
        super().__init__()
        conv = spatial_conv(separable)
        self.reduce = conv_bn_relu(low_level_channels, LOW_LEVEL_REDUCED)
        self.fuse = nn.Sequential(
            conv(aspp_channels + LOW_LEVEL_REDUCED, out_channels, 3),
            nn.Dropout(0.5),
            conv(out_channels, out_channels, 3),
            nn.Dropout(0.1),
        )
        init_weights(self)

    def forward(self, aspp_features: Tensor, low_level: Tensor) -> Tensor:
        """Return the pivot feature map at the size of ``low_level``."""
        up = F.interpolate(aspp_features, size=low_level.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, self.reduce(low_level)], dim=1))
