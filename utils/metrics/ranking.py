"""Exact per-image ranking statistics from ONE integer sort of the image's pixels.

Every per-image number the evaluator stores comes from the sorted keys of :func:`sort_pixels`: the counts
at the fixed threshold (one binary search), the exact AUC and the best-F1 threshold (one pass over all
split points), the image score (the top of the order) and the image's histogram for the streaming
dataset AUC (binary searches of the bin edges). Splitting at sorted index ``i`` predicts ``keys[i:]``
tampered; with ``pos_before[i]`` the positives before ``i``, ``tp = P - pos_before[i]`` and
``tp + fp = n - i``, so no per-threshold loop is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


class Buffers:
    """Scratch tensors reused from image to image. Each 512² image needs ~10 MB of temporaries; freshly
    allocated, the allocator hands them back to the OS after every image and touching them again (page
    faults) costs about as much as the sort itself. Requests above ``max_elements`` are not kept, so a
    native-resolution evaluation does not hold hundreds of MB between images."""

    def __init__(self, max_elements: int = 2**22) -> None:
        self.max_elements = max_elements
        self._store: dict[str, torch.Tensor] = {}

    def take(self, name: str, size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A 1-D uninitialised ``size`` tensor of ``dtype`` on ``device``; same memory for the same name."""
        if size > self.max_elements:
            return torch.empty(size, dtype=dtype, device=device)
        buf = self._store.get(name)
        if buf is None or buf.numel() < size or buf.dtype != dtype or buf.device != device:
            buf = self._store[name] = torch.empty(size, dtype=dtype, device=device)
        return buf[:size]


def _take(buffers: Buffers | None, name: str, size: int, dtype: torch.dtype, device: torch.device
          ) -> torch.Tensor:
    if buffers is None:
        return torch.empty(size, dtype=dtype, device=device)
    return buffers.take(name, size, dtype, device)


def score_keys(prob: torch.Tensor, gt: torch.Tensor, buffers: Buffers | None = None) -> torch.Tensor:
    """int32 keys ``bits << 1 | label`` of probabilities in [0, 1] and their boolean labels (same shape).

    For floats in [0, 1] the IEEE bit pattern is monotonic and below 2**30, so sorting these keys orders the
    scores exactly (no binning), with each label attached and negatives first among equal scores. ``-0.0``
    (sign bit only) becomes the key of ``0.0``.
    """
    prob = prob.float()
    keys = _take(buffers, "keys", prob.numel(), torch.int32, prob.device).view(prob.shape)
    return torch.bitwise_and(prob.view(torch.int32), 0x7FFFFFFF, out=keys).mul_(2).add_(gt)


def _key_score(keys: torch.Tensor) -> torch.Tensor:
    """The float32 scores of :func:`score_keys` keys."""
    return (keys >> 1).view(torch.float32)


def lowest_float32(guess: torch.Tensor, accept: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Per entry, the smallest float32 that the monotone predicate ``accept`` holds for, searched from a
    ``guess`` at most a few float steps away (e.g. ``float32(k / bins)``)."""
    up, down = torch.full_like(guess, 2.0), torch.full_like(guess, -1.0)
    for _ in range(4):
        guess = torch.where(accept(guess), guess, torch.nextafter(guess, up))
        lower = torch.nextafter(guess, down)
        guess = torch.where(accept(lower), lower, guess)
    return guess


def threshold_key(threshold: float) -> torch.Tensor:
    """The key splitting sorted pixels exactly where ``prob >= threshold`` (float32 comparison) starts."""
    guess = torch.tensor(threshold, dtype=torch.float32)
    return score_keys(lowest_float32(guess, lambda x: x >= threshold), torch.tensor(False))


def bin_edge_keys(bins: int) -> torch.Tensor:
    """Keys of the lower edges of bins 1..bins-1 of the binning ``floor(p * bins)``
    (float64 product), so sorted scores fall into exactly the bins that binning would give them."""
    k = torch.arange(1, bins, dtype=torch.float64)
    edges = lowest_float32((k / bins).float(), lambda x: x.double() * bins >= k)
    return score_keys(edges, torch.zeros_like(edges, dtype=torch.bool))


@dataclass(frozen=True)
class SortedPixels:
    """One image's pixels sorted by score: ``keys`` (from :func:`score_keys`) and ``pos_before`` (n + 1),
    the number of positives before each split index."""

    keys: torch.Tensor
    pos_before: torch.Tensor

    @property
    def n_pos(self) -> torch.Tensor:
        """Number of tampered pixels (0-dim int64)."""
        return self.pos_before[-1].long()

    def split_at(self, key: torch.Tensor) -> torch.Tensor:
        """Sorted index of the first pixel whose key is at least ``key`` (any shape)."""
        return torch.searchsorted(self.keys, key.to(self.keys.device).reshape(-1)).reshape(key.shape)

    def counts_at(self, split: torch.Tensor) -> torch.Tensor:
        """``[tp, fp, fn, tn]`` (float64) when pixels from sorted index ``split`` on are called tampered."""
        n, n_pos = len(self.keys), self.n_pos
        tp = n_pos - self.pos_before[split].long()
        fp = n - split - tp
        return torch.stack([tp, fp, n_pos - tp, n - n_pos - fp], dim=-1).double()

    def constant(self) -> torch.Tensor:
        """Whether every pixel has the same score (0-dim bool)."""
        return self.keys[0] >> 1 == self.keys[-1] >> 1


def sort_pixels(keys: torch.Tensor, buffers: Buffers | None = None) -> SortedPixels:
    """Sort one image's 1-D :func:`score_keys` and count the positives before each split index.

    A 1-D integer ``torch.sort`` is a radix sort on CPU, several times faster than a batched (B, N) sort.
    """
    n, device = len(keys), keys.device
    count_dtype = torch.int32 if n < 2**31 else torch.int64
    out = (_take(buffers, "sorted", n, torch.int32, device), _take(buffers, "order", n, torch.int64, device))
    keys = torch.sort(keys, stable=True, out=out)[0]
    pos_before = _take(buffers, "pos_before", n + 1, count_dtype, device)
    pos_before[0] = 0
    labels = torch.bitwise_and(keys, 1, out=_take(buffers, "int", n, torch.int32, device))
    torch.cumsum(labels, 0, dtype=count_dtype, out=pos_before[1:])
    return SortedPixels(keys, pos_before)


def _mixed_ties(pixels: SortedPixels, buffers: Buffers | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Groups of equal scores holding both classes (found where two sorted keys differ in the label bit
    only): the (start, end) sorted index range of each, and the number of tied (positive, negative) pairs."""
    keys = pixels.keys
    n, device = len(keys), keys.device
    diff = torch.bitwise_xor(keys[1:], keys[:-1], out=_take(buffers, "int", n - 1, torch.int32, device))
    first_pos = torch.nonzero(torch.eq(diff, 1, out=_take(buffers, "bool", n - 1, torch.bool, device)))
    first_pos = first_pos.squeeze(1) + 1
    tied = keys[first_pos]
    bounds = torch.stack([torch.searchsorted(keys, tied - 1), torch.searchsorted(keys, tied, right=True)])
    return bounds, ((first_pos - bounds[0]) * (bounds[1] - first_pos)).sum()


def sorted_auc(pixels: SortedPixels, tied_pairs: torch.Tensor) -> torch.Tensor:
    """Exact ROC AUC (Mann–Whitney, ties count 1/2, equal to ``roc_auc_score``); NaN when undefined
    (a single class or a constant prediction), never 0.5.

    Negatives sort first among equal scores, so a positive at index ``i`` has ``i - pos_before[i]``
    negatives below or tied; summed over positives that is ``P (n + 1) - sum(pos_before) - P (P + 1) / 2``.
    """
    n, n_pos = len(pixels.keys), pixels.n_pos
    n_neg = n - n_pos
    below_or_tied = n_pos * (n + 1) - pixels.pos_before.sum(dtype=torch.int64) - n_pos * (n_pos + 1) // 2
    auc = (2 * below_or_tied - tied_pairs).double() / (2.0 * n_pos * n_neg).double().clamp_min(1)
    defined = (n_pos > 0) & (n_neg > 0) & ~pixels.constant()
    return torch.where(defined, auc, torch.nan)


def best_f1_split(pixels: SortedPixels, mixed: torch.Tensor, buffers: Buffers | None = None) -> torch.Tensor:
    """Sorted index of the lowest distinct score whose ``prob >= t`` maximises F1 (the thresholds of
    ``precision_recall_curve``).

    F1 at split ``i`` is ``2 (P - pos_before[i]) / (n - i + P)``; float64 orders these fractions exactly.
    Splits inside a group of equal scores are not thresholds. Inside a single-class group one of the
    group's ends always scores higher (moving a split over a negative or onto a positive raises F1), so
    only the insides of the ``mixed`` groups (a (2, M) range of :func:`_mixed_ties`) are masked out.
    """
    n, device = len(pixels.keys), pixels.keys.device
    f1 = torch.arange(n, 0, -1, out=_take(buffers, "double", n, torch.float64, device)).add_(pixels.n_pos)
    count_dtype = pixels.pos_before.dtype
    tp = torch.sub(pixels.n_pos, pixels.pos_before[:-1], out=_take(buffers, "int", n, count_dtype, device))
    torch.div(tp, f1, out=f1)
    if mixed.shape[1]:
        step = _take(buffers, "step", n + 1, torch.int32, device).zero_()
        step.index_add_(0, mixed[0] + 1, torch.ones_like(mixed[0], dtype=torch.int32))
        step.index_add_(0, mixed[1], torch.full_like(mixed[1], -1, dtype=torch.int32))
        f1.masked_fill_(torch.cumsum(step[:n], 0) > 0, -1.0)
    return torch.argmax(f1)


IMAGE_SCORES = ("max", "topk")
# chosen on the CASIA v1 val split (docs/RESULTS.md): image-level AUC 0.786 for topk vs 0.776 for max
DEFAULT_IMAGE_SCORE, DEFAULT_TOP_PERCENT = "topk", 1.0


def image_score(pixels: SortedPixels, mode: str = "max", top_percent: float = 1.0) -> torch.Tensor:
    """Image-level tampering score (float64): the max, or the mean of the top ``top_percent`` % pixels."""
    if mode not in ("max", "topk"):
        raise ValueError(f"image score must be 'max' or 'topk', got {mode!r}")
    k = 1 if mode == "max" else max(1, math.ceil(len(pixels.keys) * top_percent / 100.0))
    return _key_score(pixels.keys[-k:]).double().mean()


def scorer_name(mode: str = "max", top_percent: float = 1.0) -> str:
    """What :func:`image_score` computes, in words (for tables and the demo page)."""
    if mode == "max":
        return "max pixel probability"
    return f"mean of the top {top_percent:g} % pixel probabilities"


def map_score(prob: torch.Tensor, mode: str = "max", top_percent: float = 1.0) -> float:
    """:func:`image_score` of a probability map with no ground truth (any shape, values in [0, 1])."""
    keys = score_keys(prob.reshape(-1), torch.tensor(False))
    return float(image_score(sort_pixels(keys), mode, top_percent))


def sorted_ranking(pixels: SortedPixels, buffers: Buffers | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact AUC, best-F1 counts and best threshold (float64) of a sorted image with tampered pixels."""
    mixed, tied_pairs = _mixed_ties(pixels, buffers)
    best = best_f1_split(pixels, mixed, buffers)
    return sorted_auc(pixels, tied_pairs), pixels.counts_at(best), _key_score(pixels.keys[best]).double()


def ranking_stats(prob: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact ROC AUC, best-F1 counts and best threshold of 1-D scores ``prob`` and boolean labels ``gt``
    (see :func:`sorted_auc` and :func:`best_f1_split`)."""
    return sorted_ranking(sort_pixels(score_keys(prob, gt)))


def sorted_histogram(pixels: SortedPixels, edge_keys: torch.Tensor) -> torch.Tensor:
    """(2, bins) int64 counts per class (row 0 authentic, row 1 tampered) of a sorted image, binned at the
    ``bins - 1`` :func:`bin_edge_keys`."""
    n = torch.tensor([len(pixels.keys)], device=pixels.keys.device)
    bounds = torch.cat([torch.zeros_like(n), pixels.split_at(edge_keys), n])
    total = torch.diff(bounds)
    pos = torch.diff(pixels.pos_before[bounds].long())
    return torch.stack([total - pos, pos])
