"""The contour band of a tampering mask: the one definition used by losses, data and visualisations.

METHOD.md §2: ``dilate(M, k) − erode(M, k)`` with a square structuring element of half-width ``w``.
Computed with max-pooling so it runs batched on any device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dilate(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Binary dilation of a (B,1,H,W) {0,1} mask by a (2w+1)² square; pixels outside count as 0."""
    if width <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * width + 1, stride=1, padding=width)


def erode(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Binary erosion by a (2w+1)² square; the image border does not erode (border pixels are replicated)."""
    if width <= 0:
        return mask
    padded = F.pad(mask, (width, width, width, width), mode="replicate")
    return -F.max_pool2d(-padded, kernel_size=2 * width + 1, stride=1)


def contour_band(mask: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Boundary band between tampered and authentic pixels, ``dilate − erode``, as a float {0,1} mask.

    ``mask`` is (B,1,H,W) or (H,W)/(1,H,W), any dtype with 1 = tampered. Across a straight edge the band
    is ``2*width`` pixels wide (``width`` on each side). It is empty for authentic and for fully tampered
    images: the image border is not a boundary.
    """
    if width < 0:
        raise ValueError(f"contour width must be >= 0, got {width}")
    shape = mask.shape
    m = (mask > 0.5).float().reshape(-1, 1, *shape[-2:])
    if width == 0:
        return torch.zeros_like(m).reshape(shape)
    band = dilate(m, width) - erode(m, width)
    return band.reshape(shape)
