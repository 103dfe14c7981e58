"""Pure tensor functions behind every metric: scores from confusion counts, and the dataset-level AUC,
best threshold and curves from fixed-bin histograms (per-image exact ranking: :mod:`utils.metrics.ranking`).

Conventions (identical to scikit-learn's defaults, so tests can compare against it):

- a pixel is predicted tampered when ``prob >= threshold``;
- a score whose denominator is 0 (precision with no predicted pixel, MCC with an empty row/column) is 0;
- counts are ``(..., 4)`` tensors ``[tp, fp, fn, tn]`` in float64 (exact up to 2**53 pixels).
"""
from __future__ import annotations

import torch

COUNT_NAMES = ("tp", "fp", "fn", "tn")
SCORE_NAMES = ("f1", "precision", "recall", "iou", "mcc")  # the keys of scores_from_counts


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
