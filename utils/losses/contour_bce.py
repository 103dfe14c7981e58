"""Class-balanced BCE on the contour head against the pixel contour band (METHOD.md §3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.losses.precision import at_least_float32


def balanced_weights(band: torch.Tensor) -> torch.Tensor:
    """Per-pixel weights for a (B,1,H,W) {0,1} band, computed per image as edge-detection work does.

    Band pixels get the image's fraction of non-band pixels, the others the fraction of band pixels, so
    the rare boundary carries as much total weight as the background. An image without band pixels
    (authentic or fully tampered) gets weight 0 everywhere: it has no boundary to balance.
    """
    pos_frac = band.flatten(1).mean(1).view(-1, 1, 1, 1)
    return band * (1 - pos_frac) + (1 - band) * pos_frac


def contour_bce(logits: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE of contour logits (B,1,H,W), mean over all pixels of the batch, in float32."""
    logits = at_least_float32(logits)
    band = band.to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, band, weight=balanced_weights(band))
