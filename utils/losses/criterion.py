"""CaCLCriterion: the whole training objective of CaCL-Net as one callable (METHOD.md §3).

``L = L_mask + λ_contour·L_contour + λ_ncl·L_ncl + λ_pc·L_pc``. A term whose weight is 0 is never
computed and is absent from the result. The contrastive terms run in float32 with autocast disabled.
Their patch sampling draws from torch's global RNG on the embeddings' device, so ``torch.manual_seed``
makes a step reproducible.

The contrastive terms use the embeddings of the sampled patches only. Given :meth:`patch_selector`, the
model projects just those (``outputs["patches"]`` is the sample, ``embed_t``/``embed_a`` its (n,D) rows);
given dense (B,D,h,w) embeddings, the criterion samples and gathers them itself. Both give the same loss.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Callable

import torch

from utils.contour import contour_band
from utils.errors import UserError
from utils.losses.config import LossConfig
from utils.losses.contour_bce import contour_bce
from utils.losses.contrastive import SCOPES, ContrastiveTerms, contour_contrastive
from utils.losses.mask import MASK_LOSSES
from utils.losses.patches import patch_labels
from utils.losses.precision import at_least_float32
from utils.losses.sampling import PatchSample

PatchSelector = Callable[[torch.Tensor, tuple[int, int]], PatchSample]  # (mask logits, grid) → sample


class CaCLCriterion:
    """Mask loss + class-balanced contour BCE + non-mutually-exclusive contrastive + pivot consistency,
    as set by a :class:`LossConfig` (default: the method's settings)."""

    def __init__(self, config: LossConfig = LossConfig()) -> None:
        self.mask_loss = MASK_LOSSES.get(config.loss_type)
        self.contrast_scope = config.contrast_scope
        self.pos_weight = config.pos_weight
        self.weights = {"loss_contour": config.lambda_contour, "loss_contrast": config.lambda_contrast,
                        "loss_pivot": config.lambda_pivot}
        self.temperature, self.contour_width = config.temperature, config.contour_width
        self.contour_patches, self.num_anchors = config.contour_patches, config.num_anchors
        self.hard_ratio, self.pivot_detach = config.hard_ratio, config.pivot_detach
        self.contrast_start_iter = config.contrast_start_iter
        self._before_start = None if config.contrast_start_iter == 0 else CaCLCriterion(
            replace(config, lambda_contrast=0.0, lambda_pivot=0.0, contrast_start_iter=0))

    @property
    def needs_embeddings(self) -> bool:
        """Whether the model must output ``embed_t``/``embed_a`` (i.e. needs projection heads)."""
        return self.weights["loss_contrast"] > 0 or self.weights["loss_pivot"] > 0

    def for_iteration(self, iteration: int) -> "CaCLCriterion":
        """The objective at training ``iteration`` (counted from 0): without the contrastive and pivot
        terms before ``contrast_start_iter`` (a warm-up that lets the mask head learn first), else this."""
        if self._before_start is not None and iteration < self.contrast_start_iter:
            return self._before_start
        return self

    def __call__(self, outputs: dict[str, Any], mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Total loss (differentiable) plus each computed term and the sample counts (detached)."""
        mask = mask.float()
        terms = {"loss_mask": self.mask_loss(outputs["mask"], mask, self.pos_weight)}
        stats: dict[str, torch.Tensor] = {}
        if self.weights["loss_contour"] > 0:
            terms["loss_contour"] = contour_bce(outputs["contour"], contour_band(mask, self.contour_width))
        if self.needs_embeddings:
            contrastive = self._contrastive(outputs, mask)
            terms.update(self._contrastive_terms(contrastive, mask))
            stats = contrastive.counts
        total = terms["loss_mask"] + sum(self.weights[k] * v for k, v in terms.items() if k != "loss_mask")
        return {"total": total, **{k: v.detach() for k, v in terms.items()}, **stats}

    def patch_selector(self, mask: torch.Tensor) -> PatchSelector | None:
        """What the model calls with its mask logits and stride-4 grid to learn which patches to project
        (``forward(x, select)``); None when no contrastive term is on."""
        return partial(self._sample, mask.float()) if self.needs_embeddings else None

    def _labels(self, mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return patch_labels(mask, grid, self.contour_patches, self.contour_width)

    def _sample(self, mask: torch.Tensor, mask_logits: torch.Tensor, grid: tuple[int, int]) -> PatchSample:
        sample, _ = SCOPES[self.contrast_scope]
        with torch.autocast(device_type=mask.device.type, enabled=False):
            return sample(self._labels(mask, grid), mask_logits, num_anchors=self.num_anchors,
                          hard_ratio=self.hard_ratio)

    def _contrastive(self, outputs: dict[str, Any], mask: torch.Tensor) -> ContrastiveTerms:
        """Both contrastive terms in float32, on the model's sampled rows or on dense embeddings."""
        if "embed_t" not in outputs or "embed_a" not in outputs:
            raise UserError("the contrastive losses need embed_t/embed_a: build the model with projection "
                            "heads, or set lambda_contrast and lambda_pivot to 0")
        embed_t, embed_a = outputs["embed_t"], outputs["embed_a"]
        options = {"temperature": self.temperature, "with_contrast": self.weights["loss_contrast"] > 0,
                   "with_pivot": self.weights["loss_pivot"] > 0, "pivot_detach": self.pivot_detach}
        with torch.autocast(device_type=embed_t.device.type, enabled=False):
            if "patches" in outputs:
                _, terms = SCOPES[self.contrast_scope]
                z_t, z_a = at_least_float32(embed_t), at_least_float32(embed_a)
                return terms(z_t, z_a, outputs["patches"], **options)
            labels = self._labels(mask, tuple(embed_t.shape[-2:]))
            return contour_contrastive(embed_t, embed_a, labels, outputs["mask"], scope=self.contrast_scope,
                                       num_anchors=self.num_anchors, hard_ratio=self.hard_ratio, **options)

    def _contrastive_terms(self, result: ContrastiveTerms, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The requested contrastive terms; an undefined one (too few samples) counts as 0."""
        zero = mask.new_zeros(())
        terms = {}
        if self.weights["loss_contrast"] > 0:
            terms["loss_contrast"] = zero if result.contrast is None else result.contrast
        if self.weights["loss_pivot"] > 0:
            terms["loss_pivot"] = zero if result.pivot is None else result.pivot
        return terms
