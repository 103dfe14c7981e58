"""Non-mutually-exclusive contrastive loss and pivot-consistent loss (METHOD.md §3).

Contour patches are both tampered and authentic, so each branch gives them one role: branch T counts
them with the tampered patches, branch A with the authentic ones. Each branch samples its own patches
(:mod:`utils.losses.sampling`) and applies supervised InfoNCE to its own embedding; ``L_ncl`` is the mean
over the branches that are defined. The pivot term pulls z^T and z^A of the same patch together on the
sampled non-contour patches, where both branches agree on the label. Everything runs in float32
(float64 inputs stay float64).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from utils.losses.patches import AUTHENTIC, CONTOUR, IGNORED, TAMPERED
from utils.losses.precision import at_least_float32
from utils.losses.sampling import sample_branch

CONTRAST_SCOPES = ("batch", "image")


@dataclass
class ContrastiveTerms:
    """Result of :func:`contour_contrastive`: undefined terms are None; counts are detached floats."""

    contrast: Optional[torch.Tensor] = None
    pivot: Optional[torch.Tensor] = None
    counts: dict[str, torch.Tensor] = field(default_factory=dict)


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> Optional[torch.Tensor]:
    """Supervised InfoNCE over n samples ``z`` (n,D) with binary ``labels`` (n,); None if undefined.

    ``L = mean_i −mean_{p∈P(i)} log(exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ))``; it is undefined (None)
    when a class has fewer than two samples, since some anchor would then have no positive.
    """
    counts = torch.bincount(labels.long(), minlength=2)
    if counts.numel() != 2 or int(counts.min()) < 2:
        return None
    sim = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    log_denominator = torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    log_prob = (sim - log_denominator) * positives
    return (-log_prob.sum(1) / positives.sum(1)).mean()


def pivot_consistency(z_t: torch.Tensor, z_a: torch.Tensor) -> Optional[torch.Tensor]:
    """``mean_i (1 − z_i^T·z_i^A)`` over paired rows; None for an empty set."""
    if len(z_t) == 0:
        return None
    return (1 - (z_t * z_a).sum(1)).mean()


def embedding_collapse(z_t: torch.Tensor, z_a: torch.Tensor) -> torch.Tensor:
    """Length of the mean unit embedding, averaged over the branches: 1 when every patch maps to the same
    point (a collapsed head, where InfoNCE has no gradient left), near 0 when the embeddings spread out."""
    return (z_t.mean(0).norm() + z_a.mean(0).norm()) / 2


def gather_patches(embed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of a (B,D,h,w) embedding at flat patch indices (over B·h·w), at least float32 (n, D).

    Indexes the tensor in place, so no (B·h·w, D) copy of the embedding is made.
    """
    _, _, h, w = embed.shape
    b, rest = index // (h * w), index % (h * w)
    return at_least_float32(embed[b, :, rest // w, rest % w])


def predicted_tampered(mask_logits: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Flat (N,) bool: the mask head's call per patch, from its logits averaged over each grid cell."""
    return F.adaptive_avg_pool2d(mask_logits.detach(), grid).flatten() > 0


def _counts(selected: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Number of sampled patches of each patch class, as detached float tensors."""
    names = {"n_tampered": TAMPERED, "n_authentic": AUTHENTIC, "n_contour": CONTOUR}
    return {name: (selected & (labels == code)).sum().float() for name, code in names.items()}


def contour_contrastive_per_image(
    embed_t: torch.Tensor,
    embed_a: torch.Tensor,
    labels: torch.Tensor,
    mask_logits: Optional[torch.Tensor] = None,
    *,
    num_anchors: int,
    **options: object,
) -> ContrastiveTerms:
    """:func:`contour_contrastive` within each image (``num_anchors // B`` samples each), averaged over
    the images where a term is defined; counts add up, ``embed_collapse`` is averaged.

    Every positive/negative pair then shares the image, so what tells patches apart cannot be the
    image's content: the ``--contrast-scope image`` choice.
    """
    per_image = max(num_anchors // len(labels), 4)
    results = [contour_contrastive(embed_t[b:b + 1], embed_a[b:b + 1], labels[b:b + 1],
                                   None if mask_logits is None else mask_logits[b:b + 1],
                                   num_anchors=per_image, **options) for b in range(len(labels))]
    merged = ContrastiveTerms()
    for name in ("contrast", "pivot"):
        defined = [getattr(r, name) for r in results if getattr(r, name) is not None]
        setattr(merged, name, torch.stack(defined).mean() if defined else None)
    for key in {key for r in results for key in r.counts}:
        values = torch.stack([r.counts[key] for r in results if key in r.counts])
        merged.counts[key] = values.mean() if key == "embed_collapse" else values.sum()
    return merged


def contour_contrastive(
    embed_t: torch.Tensor,
    embed_a: torch.Tensor,
    labels: torch.Tensor,
    mask_logits: Optional[torch.Tensor] = None,
    *,
    temperature: float,
    num_anchors: int,
    hard_ratio: float,
    with_contrast: bool = True,
    with_pivot: bool = True,
) -> ContrastiveTerms:
    """``L_ncl`` and ``L_pc`` for embeddings (B,D,h,w) and patch ``labels`` (B,h,w) on the same grid.

    Branch T's classes are {T, C} vs {A}, branch A's {T} vs {A, C}; IGNORED patches are never sampled.
    ``L_ncl`` averages the branches that are defined and is None when neither is; ``mask_logits`` feed
    ``hard_ratio`` hard mining. ``temperature``, ``num_anchors`` and ``hard_ratio`` have their defaults
    in :class:`utils.losses.CaCLCriterion` (the flags' defaults).
    Both embeddings are gathered once, on the union of the two samples, which the counts describe.
    """
    flat = labels.flatten()
    contour = flat == CONTOUR
    mining = hard_ratio > 0 and mask_logits is not None
    predicted = predicted_tampered(mask_logits, tuple(labels.shape[-2:])) if mining else None
    positive_t, positive_a = flat != AUTHENTIC, flat == TAMPERED
    valid = flat != IGNORED
    samples = []
    for positive in (positive_t, positive_a):
        hard = None if predicted is None else predicted != positive
        samples.append(sample_branch(positive, contour, num_anchors, hard, hard_ratio, eligible=valid))
    sel_t, sel_a = samples
    index = (sel_t | sel_a).nonzero().squeeze(1)
    z_t, z_a = gather_patches(embed_t, index), gather_patches(embed_a, index)
    terms = ContrastiveTerms(counts=_counts(sel_t | sel_a, flat))
    if len(index):
        terms.counts["embed_collapse"] = embedding_collapse(z_t.detach(), z_a.detach())
    in_t, in_a = sel_t[index], sel_a[index]
    losses = [supcon_loss(z_t[in_t], positive_t[index][in_t], temperature),
              supcon_loss(z_a[in_a], positive_a[index][in_a], temperature)] if with_contrast else []
    defined = [loss for loss in losses if loss is not None]
    terms.counts["n_branches"] = torch.tensor(float(len(defined)), device=flat.device)
    if defined:
        terms.contrast = torch.stack(defined).mean()
    if with_pivot:
        keep = ~contour[index]
        terms.pivot = pivot_consistency(z_t[keep], z_a[keep])
    return terms
