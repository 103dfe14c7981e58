"""Pure tensor functions behind every metric: confusion counts, scores from counts, exact ranking
statistics (AUC, best threshold) for one image, and fixed-bin histograms for streaming dataset AUC.

Conventions (identical to scikit-learn's defaults, so tests can compare against it):

- a pixel is predicted tampered when ``prob >= threshold``;
- a score whose denominator is 0 (precision with no predicted pixel, MCC with an empty row/column) is 0;
- counts are ``(..., 4)`` tensors ``[tp, fp, fn, tn]`` in float64 (exact up to 2**53 pixels).
"""
from __future__ import annotations

import torch

COUNT_NAMES = ("tp", "fp", "fn", "tn")
SCORE_NAMES = ("f1", "precision", "recall", "iou", "mcc")  # the keys of scores_from_counts


def confusion_counts(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row ``[tp, fp, fn, tn]`` of boolean ``pred`` against boolean ``gt``, both (B, N).

    ``valid`` (B, N) bool keeps padded or ignored pixels out of every count.
    """
    if valid is None:
        valid = torch.ones_like(gt)
    tp = (pred & gt & valid).sum(-1)
    fp = (pred & ~gt & valid).sum(-1)
    fn = (~pred & gt & valid).sum(-1)
    tn = valid.sum(-1) - tp - fp - fn
    return torch.stack([tp, fp, fn, tn], dim=-1).double()


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))


def scores_from_counts(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """F1, precision, recall, IoU and MCC from ``(..., 4)`` counts (0 where a denominator is 0)."""
    tp, fp, fn, tn = counts.double().unbind(-1)
    mcc_den = torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "precision": _safe_div(tp, tp + fp),
        "recall": _safe_div(tp, tp + fn),
        "iou": _safe_div(tp, tp + fp + fn),
        "mcc": _safe_div(tp * tn - fp * fn, mcc_den),
    }


def sorted_keys(prob: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Sort the pixels of one image by score, carrying the label in the lowest bit.

    For floats in [0, 1] the IEEE bit pattern is monotonic and below 2**30, so ``bits << 1 | label`` fits
    an int32 and one radix sort orders scores exactly (no binning) with their labels attached.
    """
    bits = (prob.float().reshape(-1) + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into +0.0
    return torch.sort((bits << 1) | gt.reshape(-1).int(), stable=True).values


def _tie_groups(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positives and negatives strictly below each group of equal scores, each group's score bits, and
    the number of positives."""
    labels = (keys & 1).long()
    bits = keys >> 1
    starts = torch.ones_like(bits, dtype=torch.bool)
    torch.ne(bits[1:], bits[:-1], out=starts[1:])
    index = torch.nonzero(starts).squeeze(1)
    cum_pos = torch.cumsum(labels, 0)
    pos_below = (cum_pos - labels)[index]
    return pos_below, index - pos_below, bits[index], cum_pos[-1]


def ranking_stats(prob: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact ROC AUC, best-F1 counts and best threshold for one image's valid pixels (1-D tensors).

    AUC is the Mann–Whitney statistic with ties counted 1/2 (equal to ``roc_auc_score``); it is NaN when
    the image has a single class or a constant prediction (undefined, never 0.5). The best threshold is
    the distinct score whose ``prob >= t`` maximises F1 (the thresholds of ``precision_recall_curve``).
    """
    pos_below, neg_below, group_bits, n_pos = _tie_groups(sorted_keys(prob, gt))
    n_neg = gt.numel() - n_pos
    pos_g = torch.diff(pos_below, append=n_pos.view(1))
    neg_g = torch.diff(neg_below, append=n_neg.view(1))
    twice_pairs = (pos_g * (2 * neg_below + neg_g)).sum()
    defined = (n_pos > 0) & (n_neg > 0) & (len(group_bits) > 1)
    auc = torch.where(defined, twice_pairs.double() / (2.0 * n_pos * n_neg).double().clamp_min(1), torch.nan)
    tp, fp = n_pos - pos_below, n_neg - neg_below
    best = torch.argmax(2 * tp / (tp + fp + n_pos).clamp_min(1).double())
    counts = torch.stack([tp[best], fp[best], n_pos - tp[best], n_neg - fp[best]]).double()
    threshold = group_bits[best].view(1).view(torch.float32)[0].double()
    return auc, counts, threshold


def image_scores(prob: torch.Tensor, valid: torch.Tensor, mode: str = "max", top_percent: float = 1.0
                 ) -> torch.Tensor:
    """Image-level tampering score per row of (B, N) ``prob``: the max, or the mean of the top-k % pixels."""
    masked = prob.masked_fill(~valid, -1.0)
    if mode == "max":
        return masked.amax(-1)
    if mode != "topk":
        raise ValueError(f"image score must be 'max' or 'topk', got {mode!r}")
    n_valid = valid.sum(-1)
    k = torch.clamp(torch.ceil(n_valid * top_percent / 100.0), min=1).long()
    top = torch.topk(masked, int(k.max()), dim=-1).values
    keep = torch.arange(top.shape[-1], device=top.device) < k.unsqueeze(-1)
    return (top.double() * keep).sum(-1) / k


def histogram(prob: torch.Tensor, gt: torch.Tensor, bins: int) -> torch.Tensor:
    """(2, bins) int64 counts of 1-D scores per class (row 0 authentic, row 1 tampered).

    A score ``p`` falls in bin ``floor(p * bins)`` (1.0 in the last bin)."""
    index = torch.clamp((prob.double() * bins).long(), 0, bins - 1) + bins * gt.long()
    return torch.bincount(index, minlength=2 * bins).view(2, bins)


def histogram_auc(hist: torch.Tensor) -> tuple[float, float]:
    """ROC AUC from a (2, bins) histogram and its worst-case error against the exact AUC.

    Pairs in different bins are ordered exactly; pairs sharing a bin count 1/2, so the error is at most
    ``sum_b pos_b * neg_b / (2 * P * N)``. NaN (undefined) when a class is empty or all scores share a bin.
    """
    neg, pos = hist.double().unbind(0)
    n_neg, n_pos = neg.sum(), pos.sum()
    if n_neg == 0 or n_pos == 0 or int((hist.sum(0) > 0).sum()) < 2:
        return float("nan"), float("nan")
    neg_below = torch.cumsum(neg, 0) - neg
    auc = (pos * (neg_below + 0.5 * neg)).sum() / (n_pos * n_neg)
    error = (pos * neg).sum() / (2 * n_pos * n_neg)
    return float(auc), float(error)


def _counts_at_or_above(counts: torch.Tensor) -> torch.Tensor:
    """Entry k: how many scores fall in bin k or above (predicted tampered at threshold k / bins)."""
    return torch.flip(torch.cumsum(torch.flip(counts, [0]), 0), [0])


def histogram_best(hist: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Counts and threshold of the best F1 over thresholds ``k / bins`` from a (2, bins) histogram."""
    bins = hist.shape[1]
    neg, pos = hist.double().unbind(0)
    tp, fp = _counts_at_or_above(pos), _counts_at_or_above(neg)
    counts = torch.stack([tp, fp, pos.sum() - tp, neg.sum() - fp], dim=-1)
    best = int(torch.argmax(scores_from_counts(counts)["f1"]))
    return counts[best], best / bins


def histogram_curves(hist: torch.Tensor) -> dict[str, torch.Tensor]:
    """ROC (``fpr``, ``tpr``) and PR (``precision``, ``recall``) points at thresholds ``k / bins``."""
    neg, pos = hist.double().unbind(0)
    tp, fp = _counts_at_or_above(pos), _counts_at_or_above(neg)
    zero = torch.zeros(1, dtype=torch.float64)
    tp, fp = torch.cat([tp, zero]), torch.cat([fp, zero])
    return {"fpr": fp / max(float(neg.sum()), 1.0), "tpr": tp / max(float(pos.sum()), 1.0),
            "precision": _safe_div(tp, tp + fp), "recall": tp / max(float(pos.sum()), 1.0)}
