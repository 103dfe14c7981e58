"""The contour band of a tampering mask: the one definition used by losses, data and visualisations.

METHOD.md §2: ``dilate(M, k) − erode(M, k)`` with a square structuring element of half-width ``w``.
The square is separable, so each morphology is a running maximum over 2w+1 shifted views along the
columns, then along the rows: plain tensor ops that run batched on any device, and on CPU about four
times faster than ``max_pool2d`` for w = 2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CONTOUR_WIDTH = 2  # the band's half-width in pixels (METHOD.md §2): the default of --contour-width


def _box_max(x: torch.Tensor, width: int) -> torch.Tensor:
    """Maximum over each (2w+1)² window of a (…,H,W) tensor of values ≥ 0; outside the image counts as 0."""
    for dim, pad in ((-1, (width, width, 0, 0)), (-2, (0, 0, width, width))):
        size = x.shape[dim]
        padded = F.pad(x, pad)
        x = padded.narrow(dim, 0, size)
        for shift in range(1, 2 * width + 1):
            x = torch.maximum(x, padded.narrow(dim, shift, size))
    return x


def dilate(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Binary dilation of a {0,1} mask by a (2w+1)² square; pixels outside the image count as 0."""
    return _box_max(mask, width) if width > 0 else mask


def erode(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Binary erosion by a (2w+1)² square; the image border does not erode (outside counts as 1)."""
    return 1 - _box_max(1 - mask, width) if width > 0 else mask


def contour_band(mask: torch.Tensor, width: int = CONTOUR_WIDTH) -> torch.Tensor:
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
