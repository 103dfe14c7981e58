"""Non-mutually-exclusive contrastive loss and pivot-consistent loss (METHOD.md §3).

Contour patches are both tampered and authentic, so each branch gives them one role: branch T counts
them with the tampered patches, branch A with the authentic ones. Each branch samples its own patches
(:mod:`utils.losses.sampling`) and applies supervised InfoNCE to its own embedding; ``L_ncl`` is the mean
over the branches that are defined. The pivot term pulls z^T and z^A of the same patch together on the
sampled non-contour patches, where both branches agree on the label. Everything runs in float32
(float64 inputs stay float64).

The terms take the embeddings of the sampled patches only (:func:`contrastive_terms`), so a model can
project just those; :func:`contour_contrastive` is the same on dense (B,D,h,w) embeddings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from utils.grid import gather_positions
from utils.losses.patches import AUTHENTIC, CONTOUR, TAMPERED
from utils.losses.precision import at_least_float32
from utils.losses.sampling import PatchSample, sample_patches, sample_patches_per_image


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
    log_denominator = torch.logsumexp(sim.fill_diagonal_(float("-inf")), dim=1)  # a ≠ i
    # Σ_{p∈P(i)} z_i·z_p = z_i·(the sum of i's class) − z_i·z_i: with two classes an O(n·D) sum, no n×n mask
    label = labels.long()
    class_sums = torch.zeros(2, z.shape[1], dtype=z.dtype, device=z.device).index_add(0, label, z)
    positive_sim = ((z * class_sums[label]).sum(1) - (z * z).sum(1)) / temperature
    return (log_denominator - positive_sim / (counts[label] - 1)).mean()


PIVOT_DETACH = ("none", "t", "a")  # --pivot-detach: the branch the pivot term holds fixed, if any


def pivot_consistency(z_t: torch.Tensor, z_a: torch.Tensor, detach: str = "none") -> Optional[torch.Tensor]:
    """``mean_i (1 − z_i^T·z_i^A)`` over paired rows; None for an empty set.

    ``detach`` "a" makes z^A a fixed target that only z^T is pulled to ("t" the converse), so the term
    cannot pull both branches towards a shared point; "none" moves both.
    """
    if len(z_t) == 0:
        return None
    z_t = z_t.detach() if detach == "t" else z_t
    z_a = z_a.detach() if detach == "a" else z_a
    return (1 - (z_t * z_a).sum(1)).mean()


def mean_length(z: torch.Tensor) -> torch.Tensor:
    """Length of the mean of unit embeddings ``z`` (n,D): 1 when every row is the same point (a collapsed
    head, where InfoNCE has no gradient left), near 0 when the rows spread out."""
    return z.mean(0).norm()


def embedding_collapse(z_t: torch.Tensor, z_a: torch.Tensor) -> torch.Tensor:
    """:func:`mean_length` averaged over the two branches."""
    return (mean_length(z_t) + mean_length(z_a)) / 2


def gather_patches(embed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of a (B,D,h,w) embedding at flat patch indices (over B·h·w), at least float32 (n, D)."""
    return at_least_float32(gather_positions(embed, index))


def _counts(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Number of sampled patches of each patch class, as detached float tensors."""
    names = {"n_tampered": TAMPERED, "n_authentic": AUTHENTIC, "n_contour": CONTOUR}
    return {name: (labels == code).sum().float() for name, code in names.items()}


def branch_rows(z_t: torch.Tensor, z_a: torch.Tensor, sample: PatchSample
                ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each branch's InfoNCE input, ``{"T": (z, positive), "A": (z, positive)}``: the embeddings of the rows
    the branch drew and their binary class (T: tampered or contour vs authentic; A: tampered vs authentic
    or contour)."""
    positive_t, positive_a = sample.labels != AUTHENTIC, sample.labels == TAMPERED
    in_t, in_a = sample.in_t, sample.in_a
    return {"T": (z_t[in_t], positive_t[in_t]), "A": (z_a[in_a], positive_a[in_a])}


def contrastive_terms(z_t: torch.Tensor, z_a: torch.Tensor, sample: PatchSample, *, temperature: float,
                      pivot_detach: str, with_contrast: bool = True,
                      with_pivot: bool = True) -> ContrastiveTerms:
    """``L_ncl`` and ``L_pc`` from the embeddings (n,D) of ``sample``'s rows, pooled over the batch.

    ``L_ncl`` averages the branches that are defined and is None when neither is. ``temperature`` and
    ``pivot_detach`` (:func:`pivot_consistency`) have their defaults in :class:`utils.losses.LossConfig`.
    """
    terms = ContrastiveTerms(counts=_counts(sample.labels))
    if len(sample.index):
        terms.counts["embed_collapse"] = embedding_collapse(z_t.detach(), z_a.detach())
    losses = [supcon_loss(z, positive, temperature)
              for z, positive in branch_rows(z_t, z_a, sample).values()] if with_contrast else []
    defined = [loss for loss in losses if loss is not None]
    terms.counts["n_branches"] = torch.tensor(float(len(defined)), device=sample.index.device)
    if defined:
        terms.contrast = torch.stack(defined).mean()
    if with_pivot:
        keep = sample.labels != CONTOUR
        terms.pivot = pivot_consistency(z_t[keep], z_a[keep], pivot_detach)
    return terms


def contrastive_terms_per_image(z_t: torch.Tensor, z_a: torch.Tensor, sample: PatchSample,
                                **options: object) -> ContrastiveTerms:
    """:func:`contrastive_terms` within each image, averaged over the images where a term is defined;
    counts add up, ``embed_collapse`` is averaged.

    Every positive/negative pair then shares the image, so what tells patches apart cannot be the
    image's content: the ``--contrast-scope image`` choice.
    """
    image = sample.index // sample.grid_size
    results = [contrastive_terms(z_t[rows], z_a[rows], sample.rows(rows), **options)
               for rows in (image == b for b in range(sample.images))]
    merged = ContrastiveTerms()
    for name in ("contrast", "pivot"):
        defined = [getattr(r, name) for r in results if getattr(r, name) is not None]
        setattr(merged, name, torch.stack(defined).mean() if defined else None)
    for key in {key for r in results for key in r.counts}:
        values = torch.stack([r.counts[key] for r in results if key in r.counts])
        merged.counts[key] = values.mean() if key == "embed_collapse" else values.sum()
    return merged


# --contrast-scope → (how patches are sampled, how the terms are pooled)
SCOPES: dict[str, tuple[Callable[..., PatchSample], Callable[..., ContrastiveTerms]]] = {
    "batch": (sample_patches, contrastive_terms),
    "image": (sample_patches_per_image, contrastive_terms_per_image),
}
CONTRAST_SCOPES = tuple(SCOPES)


def contour_contrastive(
    embed_t: torch.Tensor,
    embed_a: torch.Tensor,
    labels: torch.Tensor,
    mask_logits: Optional[torch.Tensor] = None,
    *,
    scope: str = "batch",
    temperature: float,
    num_anchors: int,
    hard_ratio: float,
    pivot_detach: str,
    with_contrast: bool = True,
    with_pivot: bool = True,
) -> ContrastiveTerms:
    """``L_ncl`` and ``L_pc`` for dense embeddings (B,D,h,w) and patch ``labels`` (B,h,w) on the same grid:
    sample (``scope``), gather the sampled rows of both embeddings, then the terms.

    ``temperature``, ``num_anchors``, ``hard_ratio`` and ``pivot_detach`` have their defaults in
    :class:`utils.losses.LossConfig` (the flags' defaults).
    """
    sample_fn, terms_fn = SCOPES[scope]
    sample = sample_fn(labels, mask_logits, num_anchors=num_anchors, hard_ratio=hard_ratio)
    z_t, z_a = gather_patches(embed_t, sample.index), gather_patches(embed_a, sample.index)
    return terms_fn(z_t, z_a, sample, temperature=temperature, with_contrast=with_contrast,
                    with_pivot=with_pivot, pivot_detach=pivot_detach)
