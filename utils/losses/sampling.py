"""Class-balanced patch sampling for the contrastive branches (METHOD.md §3, "Sampling").

Samples are drawn from all patches of the batch at once (or per image), so the contrastive cost is O(n²)
in the number of samples n ≤ ``num_anchors`` and the only per-patch state is a few boolean vectors. Draws
use ``torch.rand`` on the patches' device: with ``generator=None`` that is torch's global RNG for the
device, so ``torch.manual_seed(s)`` makes the sample reproducible. The sample is all the model needs to
project: :class:`PatchSample` ``index`` lists the positions whose embeddings the terms use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from utils.losses.patches import AUTHENTIC, CONTOUR, IGNORED, TAMPERED

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


@dataclass
class PatchSample:
    """The patches both branches drew, one row each: ``index`` (n,) ascending flat positions over B·h·w,
    ``in_t``/``in_a`` (n,) bool which branch drew the row, ``labels`` (n,) the patch classes; ``grid_size``
    is h·w and ``images`` is B (to split the rows by image)."""

    index: torch.Tensor
    in_t: torch.Tensor
    in_a: torch.Tensor
    labels: torch.Tensor
    grid_size: int
    images: int

    def rows(self, keep: torch.Tensor) -> "PatchSample":
        """The sample restricted to the rows ``keep`` (n,) bool."""
        return PatchSample(self.index[keep], self.in_t[keep], self.in_a[keep], self.labels[keep],
                           self.grid_size, self.images)


def predicted_tampered(mask_logits: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Flat (N,) bool: the mask head's call per patch, from its logits averaged over each grid cell."""
    return F.adaptive_avg_pool2d(mask_logits.detach(), grid).flatten() > 0


def sample_patches(labels: torch.Tensor, mask_logits: Optional[torch.Tensor] = None, *, num_anchors: int,
                   hard_ratio: float) -> PatchSample:
    """Both branches' samples over patch ``labels`` (B,h,w), pooled over the batch.

    Branch T's classes are {T, C} vs {A}, branch A's {T} vs {A, C}; IGNORED patches are never sampled.
    ``mask_logits`` (B,1,H,W) feed ``hard_ratio`` hard mining.
    """
    flat = labels.flatten()
    contour = flat == CONTOUR
    mining = hard_ratio > 0 and mask_logits is not None
    predicted = predicted_tampered(mask_logits, tuple(labels.shape[-2:])) if mining else None
    valid = flat != IGNORED
    selected = []
    for positive in (flat != AUTHENTIC, flat == TAMPERED):
        hard = None if predicted is None else predicted != positive
        selected.append(sample_branch(positive, contour, num_anchors, hard, hard_ratio, eligible=valid))
    sel_t, sel_a = selected
    index = (sel_t | sel_a).nonzero().squeeze(1)
    return PatchSample(index, sel_t[index], sel_a[index], flat[index], labels[0].numel(), len(labels))


def sample_patches_per_image(labels: torch.Tensor, mask_logits: Optional[torch.Tensor] = None, *,
                             num_anchors: int, hard_ratio: float) -> PatchSample:
    """:func:`sample_patches` within each image (``num_anchors // B`` samples each, at least 4)."""
    per_image = max(num_anchors // len(labels), 4)
    samples = [sample_patches(labels[b:b + 1], None if mask_logits is None else mask_logits[b:b + 1],
                              num_anchors=per_image, hard_ratio=hard_ratio) for b in range(len(labels))]
    grid_size = labels[0].numel()
    index = torch.cat([s.index + b * grid_size for b, s in enumerate(samples)])
    in_t, in_a, classes = (torch.cat([getattr(s, name) for s in samples])
                           for name in ("in_t", "in_a", "labels"))
    return PatchSample(index, in_t, in_a, classes, grid_size, len(labels))
