"""Small building blocks shared by ASPP, the decoder and the heads."""
from __future__ import annotations

from typing import Callable

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
