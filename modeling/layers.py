"""Small building blocks shared by ASPP, the decoder and the heads."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (same padding, no bias) → BN → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def separable_conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    """Depthwise conv → BN → ReLU → pointwise 1×1 conv → BN → ReLU: DeepLabv3+'s atrous separable
    convolution, several times cheaper than :func:`conv_bn_relu` at the same kernel and width."""
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=in_ch,
                  bias=False),
        nn.BatchNorm2d(in_ch),
        nn.ReLU(inplace=True),
        conv_bn_relu(in_ch, out_ch),
    )


def spatial_conv(separable: bool) -> Callable[..., nn.Sequential]:
    """The block for a k×k convolution of ASPP and the decoder: separable or standard."""
    return separable_conv_bn_relu if separable else conv_bn_relu


class OneOutputConv3x3(nn.Conv2d):
    """A 3×3 convolution (padding 1) to a single output channel, the same parameters and arithmetic as
    ``nn.Conv2d(in_ch, 1, 3, padding=1)``, computed as a 1×1 convolution to the nine taps' maps followed by
    their shifted sum (in at least float32). A direct one-output 3×3 convolution spends most of its CPU time
    unfolding the input; this takes a 1×1 convolution's (docs/PERFORMANCE.md, contour head)."""

    def __init__(self, in_ch: int) -> None:
        super().__init__(in_ch, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = F.conv2d(x, self.weight[0].permute(1, 2, 0).reshape(9, -1, 1, 1))  # tap ky·3+kx
        height, width = x.shape[-2:]
        total_dtype = torch.promote_types(taps.dtype, torch.float32)
        padded = F.pad(taps.to(total_dtype), (1, 1, 1, 1))
        out = self.bias.to(total_dtype).view(1, 1, 1, 1)
        for ky in range(3):
            for kx in range(3):
                tap = 3 * ky + kx
                out = out + padded[:, tap:tap + 1, ky:ky + height, kx:kx + width]
        return out.to(taps.dtype)
