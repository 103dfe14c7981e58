"""Heads on the shared stride-4 pivot (METHOD.md §1): mask logits, contour logits, contrastive projections."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.init import init_prediction, init_weights
from modeling.layers import OneOutputConv3x3, conv_bn_relu
from utils.grid import gather_positions

CONTOUR_HIDDEN = 64
CONTOUR_HIDDEN_KERNEL = 3  # METHOD.md's small conv head: 3×3 hidden layer, 1×1 read-out
CONTOUR_HIDDEN_KERNELS = (1, 3)  # see ContourHead
MEAN_CHUNK_ROWS = 4096  # rows per float32 partial sum of a bf16 pivot's mean: cache-sized, no full copy


class MaskHead(nn.Conv2d):
    """1×1 conv → one tampering logit per pixel (stride 4; the model upsamples it)."""

    def __init__(self, in_channels: int = 256) -> None:
        super().__init__(in_channels, 1, 1)
        init_prediction(self)


class ContourHead(nn.Sequential):
    """Small conv head → one contour logit per pixel: a hidden conv-BN-ReLU layer and one output conv.

    ``hidden_kernel=3`` (METHOD.md's small conv head): 3×3 hidden conv, 1×1 output. ``hidden_kernel=1``:
    1×1 hidden conv, 3×3 output; the same 3×3 receptive field and nonlinearity, at a ninth of the hidden
    layer's multiply-adds, whose backward at stride 4 is the largest cost of the contour term on a CPU
    (docs/PERFORMANCE.md, bench_loss). ``hidden=0`` reads the contour out of the pivot with one 3×3 conv,
    as the mask head reads the mask with one 1×1 conv.
    """

    def __init__(self, in_channels: int = 256, hidden: int = CONTOUR_HIDDEN,
                 hidden_kernel: int = CONTOUR_HIDDEN_KERNEL) -> None:
        if hidden_kernel not in CONTOUR_HIDDEN_KERNELS:  # a user's choice is checked in engine.config
            raise ValueError(f"hidden_kernel must be one of {CONTOUR_HIDDEN_KERNELS}, got {hidden_kernel}")
        if not hidden:
            super().__init__(OneOutputConv3x3(in_channels))
        elif hidden_kernel == 3:
            super().__init__(conv_bn_relu(in_channels, hidden, 3), nn.Conv2d(hidden, 1, 1))
        else:
            super().__init__(conv_bn_relu(in_channels, hidden, 1), OneOutputConv3x3(hidden))
        init_weights(self)
        init_prediction(self[-1])


class ProjectionHead(nn.Module):
    """1×1 conv → BN → ReLU → 1×1 conv, then L2 normalisation along channels (one per contrastive branch).

    ``forward(pivot)`` projects every position of a (B,C,h,w) pivot. :meth:`project_rows` projects only
    gathered pivot vectors (n,C): every layer acts per position, and BatchNorm's batch statistics (the one
    thing that mixes positions) come from :class:`PivotMoments` of the whole pivot, so the rows equal the
    dense forward's rows at those positions, running statistics included.
    """

    def __init__(self, in_channels: int = 256, hidden: int = 256, embed_dim: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(conv_bn_relu(in_channels, hidden), nn.Conv2d(hidden, embed_dim, 1))
        init_weights(self)

    def forward(self, pivot: Tensor) -> Tensor:
        return F.normalize(self.mlp(pivot), dim=1)

    @property
    def projects_rows(self) -> bool:
        """Whether :meth:`project_rows` applies: not with SyncBatchNorm, whose statistics span processes."""
        return not isinstance(self.mlp[0][1], nn.SyncBatchNorm)

    @property
    def needs_moments(self) -> bool:
        """Whether BatchNorm normalises with batch statistics (training, not frozen)."""
        return _uses_batch_stats(self.mlp[0][1])

    def project_rows(self, rows: Tensor, moments: PivotMoments | None) -> Tensor:
        """L2-normalised embeddings (n, embed_dim) of pivot vectors ``rows`` (n,C); ``moments`` of the whole
        pivot are needed when BatchNorm normalises with batch statistics (training)."""
        conv, bn = self.mlp[0][0], self.mlp[0][1]
        weight = conv.weight.flatten(1)
        hidden = F.relu(_batch_norm_rows(F.linear(rows, weight), bn, weight, moments))
        last = self.mlp[1]
        return F.normalize(F.linear(hidden, last.weight.flatten(1), last.bias), dim=1)


@dataclass
class PivotMoments:
    """Mean (C,) and biased covariance (C,C) of the pivot's channels over all ``count`` positions."""

    mean: Tensor
    covariance: Tensor
    count: int

    @classmethod
    def with_rows(cls, pivot: Tensor, index: Tensor) -> tuple[Tensor, "PivotMoments"]:
        """The pivot's vectors (n,C) at flat positions ``index`` (over B·h·w) and the moments of the whole
        (B,C,h,w) pivot, in one autograd node whose backward writes one dense gradient (the rows' gradients
        added into the moments' in place, not a zero-filled gradient of the pivot's size per use).

        The moments come back in float32 at least. Under autocast the C×C products run in the autocast
        dtype, as the dense layer's product would (per image, summed in float32); outside it in float32 at
        least, so the float64 checks against the dense path hold exactly."""
        device = pivot.device.type
        product_dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                         else torch.promote_types(pivot.dtype, torch.float32))
        with torch.autocast(device, enabled=False):
            rows, mean, covariance = _RowsAndMoments.apply(pivot, index, product_dtype)
            batch, _, height, width = pivot.shape
            return rows, cls(mean, covariance, batch * height * width)

    def of_linear(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Batch mean and biased variance (K,) of ``weight @ x`` (weight (K,C)) over the positions:
        ``W μ`` and ``diag(W Σ Wᵀ)``, one C×C product instead of the layer at every position."""
        with torch.autocast(self.mean.device.type, enabled=False):
            weight = weight.to(self.covariance.dtype)
            return weight @ self.mean, ((weight @ self.covariance) * weight).sum(1)


class _RowsAndMoments(torch.autograd.Function):
    """Rows of a (B,C,h,w) pivot at flat positions ``index`` over B·h·w, and the mean (C,) and biased
    covariance (C,C), at least float32, of its channels over the B·h·w positions, the products in
    ``product_dtype``.

    The backward is one (B·h·w)×C by C×C product (autograd's own would take two, one per factor of the
    ``centredᵀ @ centred`` product) into which the rows' gradients are added in place; it is a fresh
    channels-last tensor, which autograd can add the other heads' gradients into in place (a view would
    cost an out-of-place sum of pivot-sized tensors). The pivot is centred on its mean rounded to
    ``product_dtype`` (no float32 copy of a bf16 pivot: the float32 mean is summed in cache-sized chunks);
    the rounding's offset ``d`` (the centred rows' mean) is taken out exactly: Σ = E[c cᵀ] − d dᵀ."""

    @staticmethod
    def forward(ctx: Any, pivot: Tensor, index: Tensor, product_dtype: torch.dtype
                ) -> tuple[Tensor, Tensor, Tensor]:
        batch, channels, height, width = pivot.shape
        count = batch * height * width
        stats_dtype = torch.promote_types(product_dtype, torch.float32)
        flat = pivot.permute(0, 2, 3, 1).reshape(count, channels)  # a view of a channels-last pivot
        x = flat.view(batch, height * width, channels)
        mean = sum(chunk.sum(0, dtype=stats_dtype) for chunk in flat.split(MEAN_CHUNK_ROWS)) / count
        rounded_mean = mean.to(product_dtype)
        centred = x.to(product_dtype) - rounded_mean
        offset = mean - rounded_mean.to(stats_dtype)
        ctx.save_for_backward(centred, offset, index)
        ctx.pivot_shape, ctx.input_dtype = pivot.shape, pivot.dtype
        second_moment = (centred.transpose(1, 2) @ centred).sum(0, dtype=stats_dtype) / count
        return flat[index], mean, second_moment - torch.outer(offset, offset)

    @staticmethod
    def backward(ctx: Any, grad_rows: Tensor | None, grad_mean: Tensor,
                 grad_covariance: Tensor) -> tuple[Tensor, None, None]:
        centred, offset, index = ctx.saved_tensors
        batch, channels, height, width = ctx.pivot_shape
        count = batch * height * width
        symmetric = (grad_covariance + grad_covariance.T) / count
        # d Σ / d x_p = sym · (x_p − mean) = sym · centred_p − sym · offset; the centring's own term (minus
        # the mean of this over the positions) vanishes because the x_p − mean sum to 0
        per_channel = grad_mean / count - symmetric @ offset
        grad = torch.empty(ctx.pivot_shape, dtype=centred.dtype, device=centred.device,
                           memory_format=torch.channels_last)
        rows = grad.permute(0, 2, 3, 1).view(count, channels)  # the same storage, position-major
        torch.mm(centred.reshape(count, channels), symmetric.to(centred.dtype), out=rows)
        rows.add_(per_channel.to(rows.dtype))
        if grad_rows is not None:
            rows.index_add_(0, index, grad_rows.to(rows.dtype))
        return grad.to(ctx.input_dtype), None, None


def _uses_batch_stats(bn: nn.BatchNorm2d) -> bool:
    return bn.training or bn.running_mean is None


def _batch_norm_rows(hidden: Tensor, bn: nn.BatchNorm2d, weight: Tensor,
                     moments: PivotMoments | None) -> Tensor:
    """``bn`` on rows (n,K) of ``weight @ pivot``: with running statistics in eval mode; in training with
    the batch statistics of all positions (from ``moments``), updating the running ones as ``bn`` does."""
    if not _uses_batch_stats(bn):
        return F.batch_norm(hidden, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    mean, var = moments.of_linear(weight)
    if bn.training and bn.running_mean is not None:
        _update_running_stats(bn, mean.detach(), var.detach(), moments.count)
    return (hidden - mean) * (bn.weight * torch.rsqrt(var + bn.eps)) + bn.bias


@torch.no_grad()
def _update_running_stats(bn: nn.BatchNorm2d, mean: Tensor, var: Tensor, count: int) -> None:
    """What ``bn``'s training forward does to its buffers (the running variance is unbiased)."""
    bn.num_batches_tracked.add_(1)
    momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), momentum)
    unbiased = var * count / max(count - 1, 1)
    bn.running_var.lerp_(unbiased.to(bn.running_var.dtype), momentum)


def project_patches(heads: Sequence[ProjectionHead], pivot: Tensor, index: Tensor) -> list[Tensor]:
    """Each head's embeddings (n, D) of the pivot at flat positions ``index`` (over B·h·w)."""
    if any(head.needs_moments for head in heads):
        rows, moments = PivotMoments.with_rows(pivot, index)
        return [head.project_rows(rows, moments) for head in heads]
    rows = gather_positions(pivot, index)
    return [head.project_rows(rows, None) for head in heads]
