"""Depthwise 3×3 convolutions routed to the CPU kernels that are fast.

On the CPU, PyTorch's depthwise 3×3 convolution takes a slow path when it is dilated (either precision) or
strided under bfloat16 autocast: its backward then costs 5–20× that of a plain one of the same size
(docs/PERFORMANCE.md, "Dilated and strided depthwise convolutions"). MobileNetV2 at output stride 16 has three
dilated and three strided ones, and the separable ASPP three dilated ones. :class:`DepthwiseConv3x3` keeps
``nn.Conv2d``'s parameters (state dicts and checkpoints are unchanged) and computes the same convolution on a
fast path:

- dilated by ``d``: space-to-batch, i.e. each of the ``d × d`` interleaved sub-grids of the input convolved
  without dilation, then interleaved back (zero padding to a multiple of ``d`` plays the role of the original
  padding); where the dilation reaches past the whole map only the centre tap sees data, a 1×1 convolution;
- strided: in float32, outside autocast.

Elsewhere (other devices, sub-grids too small to gain) it is ``nn.Conv2d``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# below this sub-grid side, space-to-batch makes so many tiny images that the dilated kernel is faster
MIN_SUBGRID_SIDE = 3


def is_fast_path_candidate(conv: nn.Module) -> bool:
    """A 3×3 depthwise ``nn.Conv2d`` with same padding that is dilated or strided (not both)."""
    if type(conv) is not nn.Conv2d:
        return False
    depthwise = conv.groups == conv.in_channels == conv.out_channels > 1
    same_padding = conv.padding == conv.dilation and conv.padding_mode == "zeros"
    dilated, strided = conv.dilation != (1, 1), conv.stride != (1, 1)
    square = conv.dilation[0] == conv.dilation[1] and conv.stride[0] == conv.stride[1]
    return depthwise and conv.kernel_size == (3, 3) and same_padding and square and dilated != strided


def subgrid_shape(height: int, width: int, dilation: int) -> tuple[int, int]:
    """Rows and columns of each of the ``dilation²`` interleaved sub-grids of a ``height × width`` map."""
    return -(-height // dilation), -(-width // dilation)


def space_to_batch_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        dilation: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=dilation, dilation=dilation, groups=channels)`` via undilated
    convolutions of the ``dilation²`` interleaved sub-grids, in channels-last layout."""
    batch, channels, height, width = x.shape
    rows, cols = subgrid_shape(height, width, dilation)
    padded = F.pad(x, (0, cols * dilation - width, 0, rows * dilation - height)).permute(0, 2, 3, 1)
    grids = padded.reshape(batch, rows, dilation, cols, dilation, channels).permute(0, 2, 4, 1, 3, 5)
    grids = grids.reshape(batch * dilation * dilation, rows, cols, channels).permute(0, 3, 1, 2)
    out = F.conv2d(grids, weight, bias, padding=1, groups=channels).permute(0, 2, 3, 1)
    out = out.reshape(batch, dilation, dilation, rows, cols, channels).permute(0, 3, 1, 4, 2, 5)
    out = out.reshape(batch, rows * dilation, cols * dilation, channels).permute(0, 3, 1, 2)
    return out[:, :, :height, :width]


class DepthwiseConv3x3(nn.Conv2d):
    """A dilated or strided 3×3 depthwise ``nn.Conv2d`` (same parameters, same result) that takes the fast
    CPU path; made from an existing convolution by :func:`use_fast_depthwise`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        if self.stride != (1, 1):
            return self._strided(x)
        return self._dilated(x)

    def _strided(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled("cpu"):
            return super().forward(x)
        dtype = torch.promote_types(x.dtype, torch.float32)
        bias = None if self.bias is None else self.bias.to(dtype)
        with torch.autocast("cpu", enabled=False):
            out = F.conv2d(x.to(dtype), self.weight.to(dtype), bias, self.stride, self.padding,
                           groups=self.groups)
        return out.to(torch.get_autocast_dtype("cpu"))

    def _dilated(self, x: torch.Tensor) -> torch.Tensor:
        dilation = self.dilation[0]
        height, width = x.shape[-2:]
        if dilation >= height and dilation >= width:
            return F.conv2d(x, self.weight[:, :, 1:2, 1:2], self.bias, groups=self.groups)
        if min(subgrid_shape(height, width, dilation)) < MIN_SUBGRID_SIDE:
            return super().forward(x)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        out = space_to_batch_conv(x, self.weight, self.bias, dilation)
        return out.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def use_fast_depthwise(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn every candidate convolution of ``model`` into a :class:`DepthwiseConv3x3` (or back to
    ``nn.Conv2d`` with ``enabled=False``), in place; parameters and state dict keys stay as they are."""
    for module in model.modules():
        if enabled and is_fast_path_candidate(module):
            module.__class__ = DepthwiseConv3x3
        elif not enabled and type(module) is DepthwiseConv3x3:
            module.__class__ = nn.Conv2d
    return model
