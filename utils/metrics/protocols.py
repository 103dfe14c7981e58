"""Named IML evaluation protocols computed from the evaluator's per-image rows and histograms.

Keys are ``<metric>@<fixed|best>/<per_image|dataset>`` (METHOD.md §5):

- ``per_image``: the metric on each tampered image, then the mean over images;
- ``dataset``: all pixels of all (tampered) images pooled into one confusion matrix;
- ``@fixed``: at the evaluator's threshold; ``@best``: at the F1-maximising threshold, per image (exact)
  or one for the whole dataset (over the histogram's thresholds ``k / bins``) — an oracle, label it so.

Undefined values (no tampered image, AUC on a one-class mask or a constant prediction) are NaN in the
dict, left out of means and counted under ``count/*``; tables print them as ``undefined``.
"""
from __future__ import annotations

import math

import torch

from utils.metrics.functional import (
    COUNT_NAMES,
    histogram_auc,
    histogram_best,
    scores_from_counts,
)
from utils.metrics.ranking import ranking_stats

ROW_COLUMNS = (
    *(f"{c}@fixed" for c in COUNT_NAMES),
    "image_score",
    *(f"{c}@best" for c in COUNT_NAMES),
    "threshold@best",
    "auc",
    "constant_pred",
)
SUMMARY_KEYS = {
    "f1": "f1@fixed/per_image",
    "auc": "auc/per_image",
    "iou": "iou@fixed/per_image",
    "f1_trivial": "f1_trivial/per_image",
    "f1_dataset": "f1@fixed/dataset",
    "auc_dataset": "auc/dataset",
}
_COL = {name: i for i, name in enumerate(ROW_COLUMNS)}


def summarize(results: dict[str, float]) -> dict[str, float]:
    """The headline subset (``f1``, ``auc``, ``iou``, ...) that train.py logs, under short names."""
    return {short: results[key] for short, key in SUMMARY_KEYS.items()}


def _mean(values: torch.Tensor) -> float:
    values = values[~torch.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def _trivial_f1(counts: torch.Tensor) -> torch.Tensor:
    """F1 of predicting every valid pixel tampered: 2P / (P + n)."""
    n_pos = counts[..., 0] + counts[..., 2]
    return 2 * n_pos / (n_pos + counts.sum(-1))


def _per_image(rows: torch.Tensor, inverse: bool) -> dict[str, float]:
    fixed = rows[:, _COL["tp@fixed"]:_COL["tn@fixed"] + 1]
    best = rows[:, _COL["tp@best"]:_COL["tn@best"] + 1]
    results = {}
    for tag, counts in (("fixed", fixed), ("best", best)):
        for name, values in scores_from_counts(counts).items():
            results[f"{name}@{tag}/per_image"] = _mean(values)
    results["auc/per_image"] = _mean(rows[:, _COL["auc"]])
    results["f1_trivial/per_image"] = _mean(_trivial_f1(fixed))
    if inverse:
        flipped = fixed[:, [2, 3, 0, 1]]  # complement of the prediction: tp<->fn, fp<->tn
        f1 = torch.maximum(scores_from_counts(fixed)["f1"], scores_from_counts(flipped)["f1"])
        results["f1_inverse@fixed/per_image"] = _mean(f1)
    return results


def _dataset(rows: torch.Tensor, hist: torch.Tensor) -> dict[str, float]:
    fixed = rows[:, _COL["tp@fixed"]:_COL["tn@fixed"] + 1].sum(0)
    best_counts, best_threshold = histogram_best(hist)
    results = {}
    for tag, counts in (("fixed", fixed), ("best", best_counts)):
        defined = counts[0] + counts[2] > 0
        for name, value in scores_from_counts(counts).items():
            results[f"{name}@{tag}/dataset"] = float(value) if defined else math.nan
    results["threshold@best/dataset"] = best_threshold if fixed[0] + fixed[2] > 0 else math.nan
    results["auc/dataset"], results["auc/dataset_max_error"] = histogram_auc(hist)
    results["f1_trivial/dataset"] = float(_trivial_f1(fixed)) if fixed[0] + fixed[2] > 0 else math.nan
    return results


def _detection(rows: torch.Tensor, threshold: float) -> dict[str, float]:
    """Image-level AUC and balanced accuracy of the image score (label: mask has a tampered pixel)."""
    labels = (rows[:, _COL["tp@fixed"]] + rows[:, _COL["fn@fixed"]]) > 0
    scores = rows[:, _COL["image_score"]].float()
    if len(rows) == 0 or labels.all() or not labels.any():
        return {"detection/auc": math.nan, "detection/balanced_acc@fixed": math.nan}
    auc = float(ranking_stats(scores, labels)[0]) if scores.amin() < scores.amax() else math.nan
    tpr = (scores[labels] >= threshold).double().mean()
    tnr = (scores[~labels] < threshold).double().mean()
    return {"detection/auc": auc, "detection/balanced_acc@fixed": float((tpr + tnr) / 2)}


def _counts(rows: torch.Tensor, tampered: torch.Tensor) -> dict[str, float]:
    fixed = rows[:, _COL["tp@fixed"]:_COL["tn@fixed"] + 1]
    all_tampered = tampered & (fixed[:, 1] + fixed[:, 3] == 0)
    constant = tampered & (rows[:, _COL["constant_pred"]] > 0)
    return {
        "count/images": float(len(rows)),
        "count/tampered": float(tampered.sum()),
        "count/authentic": float((~tampered).sum()),
        "count/auc_undefined": float((tampered & torch.isnan(rows[:, _COL["auc"]])).sum()),
        "count/all_tampered_gt": float(all_tampered.sum()),
        "count/constant_pred": float(constant.sum()),
    }


def pooled_histogram(hist: torch.Tensor, include_authentic: bool) -> torch.Tensor:
    """(2, bins) class histogram of the dataset-level pixels: tampered images (+ authentic ones if asked)."""
    pooled = hist[:2].clone()
    if include_authentic:
        pooled[0] += hist[2]
    return pooled


def compute_results(rows: torch.Tensor, hist: torch.Tensor, threshold: float, include_authentic: bool,
                    inverse: bool) -> dict[str, float]:
    """All protocols from (n_images, len(ROW_COLUMNS)) rows and the (3, bins) histogram."""
    tampered = rows[:, _COL["tp@fixed"]] + rows[:, _COL["fn@fixed"]] > 0
    pooled_rows = rows if include_authentic else rows[tampered]
    pooled_hist = pooled_histogram(hist, include_authentic)
    return {
        "threshold@fixed": threshold,
        **_per_image(rows[tampered], inverse),
        **_dataset(pooled_rows, pooled_hist),
        **_detection(rows, threshold),
        **_counts(rows, tampered),
    }
