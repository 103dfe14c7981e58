"""Class-balanced patch sampling for one contrastive branch (METHOD.md §3, "Sampling").

Samples are drawn from all patches of the batch at once, so the contrastive cost is O(n²) in the
number of samples n ≤ ``num_anchors`` and the only per-patch state is a few boolean vectors. Draws use
``torch.rand`` on the patches' device: with ``generator=None`` that is torch's global RNG for the device,
so ``torch.manual_seed(s)`` makes the sample reproducible.
"""
from __future__ import annotations

from typing import Optional

import torch

CONTOUR_SHARE = 3  # contour patches may fill up to 1/3 of their class's share


def class_quotas(n_neg: int, n_pos: int, num_anchors: int) -> tuple[int, int]:
    """Samples per class: half of ``num_anchors`` each, the unused share of a short class to the other."""
    total = min(num_anchors, n_neg + n_pos)
    k_neg = min(n_neg, total // 2)
    k_pos = min(n_pos, total - k_neg)
    k_neg = min(n_neg, total - k_pos)
    return k_neg, k_pos


def _take(keys: torch.Tensor, eligible: torch.Tensor, count: int, taken: torch.Tensor) -> None:
    """Mark in ``taken`` the ``count`` eligible patches with the smallest random keys."""
    if count <= 0:
        return
    scored = torch.where(eligible, keys, torch.full_like(keys, float("inf")))
    taken[scored.topk(count, largest=False).indices] = True


def _sample_class(
    keys: torch.Tensor,
    members: torch.Tensor,
    contour: torch.Tensor,
    hard: Optional[torch.Tensor],
    quota: int,
    hard_ratio: float,
) -> torch.Tensor:
    """Pick ``quota`` members: contour patches first (≤ quota/3), then hard ones, then random."""
    taken = torch.zeros_like(members)
    eligible = members & contour
    n_contour = min(quota // CONTOUR_SHARE, int(eligible.sum()))
    _take(keys, eligible, n_contour, taken)
    n_hard = 0
    if hard is not None and hard_ratio > 0:
        eligible = members & hard & ~taken
        n_hard = min(round(hard_ratio * (quota - n_contour)), int(eligible.sum()))
        _take(keys, eligible, n_hard, taken)
    _take(keys, members & ~taken, quota - n_contour - n_hard, taken)
    return taken


def sample_branch(
    positive: torch.Tensor,
    contour: torch.Tensor,
    num_anchors: int,
    hard: Optional[torch.Tensor] = None,
    hard_ratio: float = 0.0,
    generator: Optional[torch.Generator] = None,
    eligible: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Choose at most ``num_anchors`` patches for one branch; returns an (N,) bool selection.

    ``positive`` (N,) bool is the branch's class of each patch, ``contour`` marks contour patches
    (sampled with priority within whichever class the branch gives them), ``hard`` marks patches the
    mask head gets wrong; ``hard_ratio`` of each class's non-contour draws come from them. Only
    ``eligible`` patches (all when None) belong to either class.
    """
    keys = torch.rand(positive.shape, device=positive.device, generator=generator)
    classes = (~positive, positive) if eligible is None else (~positive & eligible, positive & eligible)
    quotas = class_quotas(int(classes[0].sum()), int(classes[1].sum()), num_anchors)
    selected = torch.zeros_like(positive)
    for members, quota in zip(classes, quotas):
        selected |= _sample_class(keys, members, contour, hard, quota, hard_ratio)
    return selected
