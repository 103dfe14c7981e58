"""Per-image metrics for N masks of S×S: PixelEvaluator vs a loop over scikit-learn, in the same run.

Ours is timed ``--repeats`` times (median reported); wall and process CPU time are both printed, the
latter being steadier on a shared machine.

The scikit-learn loop computes what the evaluator reports per image: precision/recall/F1, IoU and MCC at
0.5, the best-threshold F1 (``precision_recall_curve``) and the metrics at that threshold, pixel AUC, the
trivial all-tampered F1 and the inverse F1. It is slow, so it runs on ``--sklearn-images`` of the images
and its time is scaled to N (said in the output). Usage:

    python -m benchmarks.bench_metrics --images 500 --size 512 --sklearn-images 25
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn import metrics as skm

from utils.metrics import PixelEvaluator
from utils.metrics.functional import scores_from_counts


def make_data(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rectangular tampered regions of random size and noisy scores correlated with them."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, 1, size, size)
    corners = torch.randint(0, size // 2, (n, 4), generator=g)
    for mask, (y, x, h, w) in zip(masks, corners.tolist()):
        mask[0, y:y + h + 1, x:x + w + 1] = 1
    probs = (0.5 * masks + 0.5 * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)
    return probs, masks


def sklearn_image(prob: np.ndarray, gt: np.ndarray) -> list[float]:
    """Every per-image metric with scikit-learn, in the evaluator's column order."""
    pred = prob >= 0.5
    p, r, f, _ = skm.precision_recall_fscore_support(gt, pred, average="binary", zero_division=0)
    fixed = [f, p, r, skm.jaccard_score(gt, pred), skm.matthews_corrcoef(gt, pred)]
    prec, rec, thr = skm.precision_recall_curve(gt, prob)
    best_thr = thr[int(np.argmax((2 * prec * rec / np.maximum(prec + rec, 1e-300))[:-1]))]
    best_pred = prob >= best_thr
    bp, br, bf, _ = skm.precision_recall_fscore_support(gt, best_pred, average="binary", zero_division=0)
    best = [bf, bp, br, skm.jaccard_score(gt, best_pred), skm.matthews_corrcoef(gt, best_pred)]
    extra = [skm.roc_auc_score(gt, prob), skm.f1_score(gt, np.ones_like(gt)), max(f, skm.f1_score(gt, ~pred))]
    return fixed + best + extra


def ours_per_image(evaluator: PixelEvaluator) -> np.ndarray:
    """The evaluator's per-image values in :func:`sklearn_image`'s order."""
    rows = evaluator.per_image()
    fixed = torch.tensor([rows[f"{c}@fixed"] for c in ("tp", "fp", "fn", "tn")]).T
    best = torch.tensor([rows[f"{c}@best"] for c in ("tp", "fp", "fn", "tn")]).T
    cols = [scores_from_counts(fixed)[k] for k in ("f1", "precision", "recall", "iou", "mcc")]
    cols += [scores_from_counts(best)[k] for k in ("f1", "precision", "recall", "iou", "mcc")]
    n_pos = fixed[:, 0] + fixed[:, 2]
    flipped = scores_from_counts(fixed[:, [2, 3, 0, 1]])["f1"]
    cols += [torch.tensor(rows["auc"]), 2 * n_pos / (n_pos + fixed.sum(1)), torch.maximum(cols[0], flipped)]
    return torch.stack(cols, 1).numpy()


def time_ours(probs: torch.Tensor, masks: torch.Tensor, batch: int) -> tuple[PixelEvaluator, float, float]:
    """One full evaluation (process every batch, then compute): the evaluator, wall and CPU seconds."""
    evaluator = PixelEvaluator()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(probs), batch):
        evaluator.process(probs[i:i + batch], masks[i:i + batch])
    evaluator.compute()
    return evaluator, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sklearn-images", type=int, default=25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours; the median is reported")
    args = parser.parse_args()
    probs, masks = make_data(args.images, args.size)
    runs = [time_ours(probs, masks, args.batch) for _ in range(args.repeats)]
    evaluator = runs[0][0]
    ours, ours_cpu = (statistics.median(r[i] for r in runs) for i in (1, 2))
    k = args.sklearn_images
    wall, cpu = time.perf_counter(), time.process_time()
    reference = np.array([sklearn_image(p.numpy().ravel(), m.numpy().ravel() > 0.5)
                          for p, m in zip(probs[:k], masks[:k])])
    scale = args.images / k
    sk, sk_cpu = (time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale
    diff = np.abs(ours_per_image(evaluator)[:k] - reference).max()
    print(f"{args.images} images {args.size}x{args.size}, torch threads {torch.get_num_threads()}")
    print(f"ours:    {ours:.2f} s ({1000 * ours / args.images:.1f} ms/image), CPU {ours_cpu:.2f} s;"
          f" median of {args.repeats} runs: {', '.join(f'{r[1]:.2f}' for r in runs)} s")
    print(f"sklearn: {sk:.2f} s ({1000 * sk / args.images:.0f} ms/image), CPU {sk_cpu:.2f} s"
          f" (measured on {k} images, scaled to {args.images})")
    print(f"speed-up: {sk / ours:.1f}x wall, {sk_cpu / ours_cpu:.1f}x CPU;"
          f" max |ours - sklearn| over {k} images x 13 metrics: {diff:.2e}")


if __name__ == "__main__":
    main()
