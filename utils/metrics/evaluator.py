"""``PixelEvaluator``: the streaming evaluator shared by train.py validation and test.py.

``reset()`` / ``process(prob, mask, valid)`` per batch / ``compute()`` at the end. It keeps one small row
per image (counts at the fixed and at the best threshold, exact AUC, image score), all from one integer
sort of the image's pixels (:mod:`utils.metrics.ranking`), and one fixed-bin histogram per class for the
dataset-level AUC, so memory does not grow with image size. Under DDP,
``all_reduce()`` gathers every rank's rows and sums the histograms; the validation sampler must not pad
(each image seen by exactly one rank) for the merged result to cover the set exactly once.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch

from utils.dist import all_gather_object, get_world_size
from utils.metrics.functional import histogram_curves
from utils.metrics.protocols import ROW_COLUMNS, compute_results, pooled_histogram
from utils.metrics.ranking import (
    DEFAULT_IMAGE_SCORE,
    DEFAULT_TOP_PERCENT,
    IMAGE_SCORES,
    Buffers,
    bin_edge_keys,
    image_score,
    score_keys,
    sort_pixels,
    sorted_histogram,
    sorted_ranking,
    threshold_key,
)


class PixelEvaluator:
    """Pixel- and image-level metrics over a stream of probability maps and binary masks.

    Args:
        threshold: fixed decision threshold (a pixel is tampered when ``prob >= threshold``).
        bins: histogram bins for the streaming dataset-level AUC and best threshold.
        image_score: ``"max"`` or ``"topk"`` (mean of the top ``top_percent`` % pixels) for detection;
            the default is the one test.py uses (:data:`utils.metrics.ranking.DEFAULT_IMAGE_SCORE`).
        top_percent: the k of ``"topk"``, in percent of the image's valid pixels.
        include_authentic: pool the pixels of authentic images into the dataset-level metrics too
            (per-image pixel metrics always skip them: F1 is undefined on an empty mask).
        inverse: also report the "inverse" F1 (max of F1 on the prediction and on its complement).
    """

    def __init__(self, threshold: float = 0.5, bins: int = 10000, image_score: str = DEFAULT_IMAGE_SCORE,
                 top_percent: float = DEFAULT_TOP_PERCENT, include_authentic: bool = False,
                 inverse: bool = False) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if image_score not in IMAGE_SCORES:
            raise ValueError(f"image_score must be one of {IMAGE_SCORES}, got {image_score!r}")
        self.threshold = threshold
        self.bins = bins
        self.image_score = image_score
        self.top_percent = top_percent
        self.include_authentic = include_authentic
        self.inverse = inverse
        self._threshold_key = threshold_key(threshold)
        self._edge_keys = bin_edge_keys(bins)
        self._buffers = Buffers()
        self.reset()

    def reset(self) -> "PixelEvaluator":
        """Forget every processed image."""
        self._rows: list[torch.Tensor] = []
        self._names: list[str] = []
        self._hist = torch.zeros(3, self.bins, dtype=torch.int64)
        return self

    def process(self, prob: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor | None = None,
                names: Sequence[str] | None = None) -> None:
        """Add a batch: ``prob`` in [0, 1] and binary ``mask`` as (B,1,H,W), (B,H,W) or (H,W), any device.

        ``valid`` (same shape, bool) marks the pixels to score (e.g. not padding); ``names`` label the rows
        of :meth:`per_image`.
        """
        rows = [self._image_row(p, g) for p, g in _valid_pixels(*_as_rows(prob, mask, valid))]
        self._rows.append(torch.stack(rows).cpu())
        start = len(self._names)
        self._names.extend(names if names is not None else [f"#{start + i}" for i in range(len(rows))])

    def _image_row(self, prob: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """One image's row of :data:`ROW_COLUMNS` from one sort; adds its histogram (tampered images to
        rows 0-1, authentic ones to row 2)."""
        pixels = sort_pixels(score_keys(prob, gt, self._buffers), self._buffers)
        hist = sorted_histogram(pixels, self._edge_keys).cpu()
        fixed = pixels.counts_at(pixels.split_at(self._threshold_key))
        score = image_score(pixels, self.image_score, self.top_percent).view(1)
        constant = pixels.constant().double().view(1)
        if int(pixels.n_pos) == 0:
            self._hist[2] += hist[0]
            return torch.cat([fixed, score, fixed.new_full((6,), torch.nan), constant])
        self._hist[:2] += hist
        auc, best, best_threshold = sorted_ranking(pixels, self._buffers)
        return torch.cat([fixed, score, best, best_threshold.view(1), auc.view(1), constant])

    def per_image(self) -> dict[str, Any]:
        """Per-image rows as columns (``name`` plus :data:`ROW_COLUMNS`), e.g. for a CSV."""
        rows = self._stacked_rows()
        return {"name": list(self._names), **{c: rows[:, i].tolist() for i, c in enumerate(ROW_COLUMNS)}}

    def compute(self) -> dict[str, float]:
        """Every metric, keyed ``<metric>@<fixed|best>/<per_image|dataset>`` etc. (see
        :mod:`utils.metrics.protocols` and README.md, Evaluation)."""
        return compute_results(self._stacked_rows(), self._hist, self.threshold, self.include_authentic,
                               self.inverse)

    def curves(self) -> dict[str, torch.Tensor]:
        """Dataset-level ROC (``fpr``, ``tpr``) and PR (``precision``, ``recall``) points, for plots."""
        return histogram_curves(pooled_histogram(self._hist, self.include_authentic))

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`compute` needs, on CPU, mergeable with :meth:`merge`."""
        return {"rows": self._stacked_rows(), "hist": self._hist.clone(), "names": list(self._names)}

    def merge(self, states: Sequence[dict[str, Any]]) -> None:
        """Replace this evaluator's state by the union of ``states`` (e.g. one per DDP rank)."""
        self.reset()
        for state in states:
            self._rows.append(state["rows"])
            self._hist += state["hist"]
            self._names.extend(state["names"])

    def all_reduce(self, group: Any = None) -> None:
        """Merge the states of every rank in ``group`` (works with gloo and nccl); no-op without DDP."""
        if get_world_size(group) > 1:
            self.merge(all_gather_object(self.state_dict(), group))

    def _stacked_rows(self) -> torch.Tensor:
        if not self._rows:
            return torch.zeros(0, len(ROW_COLUMNS), dtype=torch.float64)
        return torch.cat(self._rows)


def _valid_pixels(prob: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each image's 1-D scores and labels, keeping only its valid pixels (no copy when all are valid)."""
    full = [True] * len(prob) if valid is None else valid.all(-1).tolist()
    for i, all_valid in enumerate(full):
        yield (prob[i], gt[i]) if all_valid else (prob[i][valid[i]], gt[i][valid[i]])


def _as_rows(prob: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Flatten (B,1,H,W) / (B,H,W) / (H,W) inputs to (B, N) float32 prob, bool gt, bool valid (None: all)."""
    if prob.dim() == 4 and prob.shape[1] != 1:
        raise ValueError(f"expected one probability channel, got shape {tuple(prob.shape)}")
    if mask.numel() != prob.numel():
        raise ValueError(f"prob {tuple(prob.shape)} and mask {tuple(mask.shape)} differ in size")
    batch = 1 if prob.dim() == 2 else prob.shape[0]
    prob = prob.detach().float().reshape(batch, -1)
    low, high = torch.aminmax(prob)  # NaN propagates and fails both comparisons
    if not (float(low) >= 0.0 and float(high) <= 1.0):
        raise ValueError("PixelEvaluator expects probabilities in [0, 1] (got logits or NaN?)")
    gt = mask.detach().reshape(batch, -1).to(prob.device) > 0.5
    if valid is None:
        return prob, gt, None
    valid = valid.detach().reshape(batch, -1).to(prob.device).bool()
    if not bool(valid.any(-1).all()):
        raise ValueError("an image has no valid pixel to score")
    return prob, gt, valid
