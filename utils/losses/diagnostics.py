"""Reference values for the supervised InfoNCE of one contrastive branch (issue 13, item 4).

The loss of a branch (:func:`utils.losses.contrastive.supcon_loss`) means little on its own; these put it
between two configurations of the same sampled labels:

- the **collapse value** ``log(N−1)``: every embedding at the same point (what a collapsed head gives);
- the **label floor**: same-label embeddings at one point and the two classes antipodal, the best a
  two-class InfoNCE can do at temperature τ.

``progress`` is where the loss sits between them (0 at collapse, 1 at the floor), ``class_angle`` the angle
between the two classes' mean embeddings and ``embed_collapse`` the length of the mean unit embedding.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from utils.losses.contrastive import mean_length, supcon_loss


def collapse_value(n: int) -> float:
    """InfoNCE of ``n`` identical embeddings: every other sample weighs the same, so ``log(n−1)``."""
    return math.log(n - 1)


def label_floor(positive: torch.Tensor, temperature: float) -> float:
    """InfoNCE when same-label embeddings coincide and the two labels are antipodal, for binary labels
    ``positive`` (N,): an anchor with P same-label others among N−1 scores ``log(P + (N−1−P)·e^{−2/τ})``;
    the mean over anchors."""
    labels = positive.bool()
    n = len(labels)
    same = torch.where(labels, labels.sum(), n - labels.sum()).double() - 1
    return torch.log(same + (n - 1 - same) * math.exp(-2 / temperature)).mean().item()


def class_angle(z: torch.Tensor, positive: torch.Tensor) -> float:
    """Angle in degrees between the mean embedding of the ``positive`` rows of ``z`` (N,D) and that of the
    others."""
    labels = positive.bool()
    pos, neg = z[labels].mean(0).double(), z[~labels].mean(0).double()
    cosine = torch.dot(pos, neg) / (pos.norm() * neg.norm())
    return math.degrees(math.acos(cosine.clamp(-1, 1).item()))


def branch_diagnostics(z: torch.Tensor, positive: torch.Tensor, temperature: float
                       ) -> Optional[dict[str, float]]:
    """One branch's InfoNCE with its reference values, sample counts, class angle and collapse; None when
    the loss is undefined (a class with fewer than two samples)."""
    loss = supcon_loss(z, positive, temperature)
    if loss is None:
        return None
    n, n_pos = len(positive), int(positive.sum())
    top, floor = collapse_value(n), label_floor(positive, temperature)
    return {
        "loss": loss.item(), "collapse_value": top, "label_floor": floor,
        "progress": (top - loss.item()) / (top - floor),
        "n": float(n), "n_positive": float(n_pos), "n_negative": float(n - n_pos),
        "class_angle": class_angle(z, positive), "embed_collapse": mean_length(z).item(),
    }
