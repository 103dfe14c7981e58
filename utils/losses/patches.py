"""Patch classes on the embedding grid: tampered, authentic or contour (METHOD.md §2).

The mask is average-pooled onto the (h, w) grid of the embeddings with adaptive average pooling, which
for an input size divisible by the stride is exactly the s×s cell average. When H or W is not a multiple
of the stride (the grid is then ``ceil(H/4)``), adaptive pooling spreads the cells over the image so that
every pixel falls in a cell; neighbouring cells may then share a row or column of pixels. Reading (h, w)
from the embedding tensor keeps the labels aligned with whatever grid the model produced.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.contour import CONTOUR_WIDTH, contour_band

AUTHENTIC, TAMPERED, CONTOUR = 0, 1, 2
IGNORED = -1
CONTOUR_MODES = ("mixed", "band", "drop")


def patch_labels(
    mask: torch.Tensor,
    grid: tuple[int, int],
    mode: str = "mixed",
    contour_width: int = CONTOUR_WIDTH,
    eps: float = 0.0,
) -> torch.Tensor:
    """Label every grid cell of a (B,1,H,W) {0,1} mask batch; returns (B, h, w) int64 class codes.

    With tampered fraction p of a cell: TAMPERED if p ≥ 1 − eps, AUTHENTIC if p ≤ eps, CONTOUR otherwise
    (``mode="mixed"``, the paper's definition). ``mode="band"`` also marks as CONTOUR every cell that the
    pixel contour band of half-width ``contour_width`` touches (a wider, steadier contour set).
    ``mode="drop"`` marks the mixed cells IGNORED instead: the plain supervised-contrastive baseline that
    leaves contour patches out of the contrast, the variant the paper argues against (ablation).
    ``mode`` is one of :data:`CONTOUR_MODES` (a user's choice is checked with a one-line error in
    :class:`utils.losses.config.LossConfig`; a wrong one here is a programming error).
    """
    if not 0 <= eps < 0.5:
        raise ValueError(f"patch eps must be in [0, 0.5), got {eps}")
    if mode not in CONTOUR_MODES:
        raise ValueError(f"contour-patches mode must be one of {CONTOUR_MODES}, got '{mode}'")
    mask = (mask > 0.5).float()
    frac = F.adaptive_avg_pool2d(mask, grid)[:, 0]
    labels = torch.full_like(frac, CONTOUR, dtype=torch.long)
    labels[frac >= 1 - eps] = TAMPERED
    labels[frac <= eps] = AUTHENTIC
    if mode == "drop":
        labels[labels == CONTOUR] = IGNORED
    if mode == "band":
        touched = F.adaptive_max_pool2d(contour_band(mask, contour_width), grid)[:, 0] > 0
        labels[touched] = CONTOUR
    return labels
