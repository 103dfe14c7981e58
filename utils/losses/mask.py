"""Mask losses on the mask head's logits, selected by ``LossConfig.loss_type`` through :data:`MASK_LOSSES`.

Every loss has the signature ``loss(logits, target, pos_weight=None) -> scalar`` with ``logits`` and
``target`` (B,1,H,W), target float {0,1}. ``pos_weight`` weights tampered pixels against authentic ones
in the per-pixel losses; Dice is a region overlap with no per-pixel weight, so it rejects ``pos_weight``.
All losses compute in at least float32 so they are safe under autocast.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from utils.errors import UserError
from utils.losses.precision import at_least_float32
from utils.registry import Registry

MaskLoss = Callable[..., torch.Tensor]
MASK_LOSSES: Registry[MaskLoss] = Registry("mask loss")

DICE_SMOOTH = 1.0
FOCAL_GAMMA = 2.0


@MASK_LOSSES.register("bce")
def bce_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: Optional[float] = None) -> torch.Tensor:
    """Mean pixel binary cross-entropy; ``pos_weight`` multiplies the tampered pixels' terms."""
    logits = at_least_float32(logits)
    target = target.to(logits.dtype)
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw)


@MASK_LOSSES.register("dice")
def dice_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: Optional[float] = None) -> torch.Tensor:
    """Soft Dice per image, ``1 − (2Σpt + s)/(Σp + Σt + s)`` with s = 1, averaged over the batch.

    The smoothing ``s`` keeps authentic images (Σt = 0) defined: their loss ``Σp/(Σp+1)`` pushes the
    predicted tampered area towards zero.
    """
    if pos_weight is not None:
        raise UserError("pos_weight applies to the per-pixel losses (bce, bce_dice, focal), not to dice")
    prob = torch.sigmoid(at_least_float32(logits)).flatten(1)
    target = target.to(prob.dtype).flatten(1)
    inter = (prob * target).sum(1)
    dice = (2 * inter + DICE_SMOOTH) / (prob.sum(1) + target.sum(1) + DICE_SMOOTH)
    return (1 - dice).mean()


@MASK_LOSSES.register("bce_dice")
def bce_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, pos_weight: Optional[float] = None
) -> torch.Tensor:
    """Sum of :func:`bce_loss` (with ``pos_weight``) and unweighted :func:`dice_loss`."""
    return bce_loss(logits, target, pos_weight) + dice_loss(logits, target)


@MASK_LOSSES.register("focal")
def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, pos_weight: Optional[float] = None
) -> torch.Tensor:
    """Per-pixel focal loss ``(1 − p_t)^γ · BCE`` with γ = 2, averaged over pixels.

    The modulating factor is applied to each pixel's own probability before averaging (not to the mean
    BCE), so confidently right pixels fade out individually. ``pos_weight`` scales tampered pixels.
    """
    logits = at_least_float32(logits)
    target = target.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    prob = torch.sigmoid(logits)
    p_true = prob * target + (1 - prob) * (1 - target)
    loss = (1 - p_true).pow(FOCAL_GAMMA) * bce
    if pos_weight is not None:
        loss = loss * (1 + (pos_weight - 1) * target)
    return loss.mean()
