"""utils.metrics against scikit-learn on randomised masks and scores (exact variants to 1e-6)."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from utils.metrics import PixelEvaluator, summarize
from utils.metrics.functional import histogram_auc
from utils.metrics.ranking import (
    Buffers,
    bin_edge_keys,
    ranking_stats,
    score_keys,
    sort_pixels,
    sorted_histogram,
    sorted_ranking,
)

TOL = 1e-6


def histogram(prob: torch.Tensor, gt: torch.Tensor, bins: int) -> torch.Tensor:
    """(2, bins) class counts of 1-D scores the way PixelEvaluator bins an image (sorted keys, edge keys)."""
    return sorted_histogram(sort_pixels(score_keys(prob, gt)), bin_edge_keys(bins))


def random_batch(seed: int, n: int = 6, size: int = 24, ties: bool = False):
    """Blob-ish masks of varied coverage and scores correlated with them (optionally with many ties)."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        y0, x0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
        h, w = torch.randint(2, size // 2, (2,), generator=g).tolist()
        masks[i, 0, y0:y0 + h, x0:x0 + w] = 1
    probs = (0.4 * masks + 0.6 * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)
    if ties:
        probs = torch.round(probs * 10) / 10
    return probs, masks


def sklearn_image(prob: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    pred = prob >= threshold
    p, r, f, _ = skm.precision_recall_fscore_support(gt, pred, average="binary", zero_division=0)
    prec, rec, thr = skm.precision_recall_curve(gt, prob)
    f1_curve = 2 * prec * rec / np.maximum(prec + rec, 1e-300)
    best = int(np.argmax(f1_curve[:-1]))
    return {"f1": f, "precision": p, "recall": r, "iou": skm.jaccard_score(gt, pred, zero_division=0),
            "mcc": skm.matthews_corrcoef(gt, pred), "f1_best": f1_curve[best], "thr_best": thr[best],
            "f1_sklearn": skm.f1_score(gt, pred, zero_division=0),
            "auc": skm.roc_auc_score(gt, prob) if 0 < gt.sum() < len(gt) else math.nan,
            "trivial": skm.f1_score(gt, np.ones_like(gt)), "inverse": max(f, skm.f1_score(gt, ~pred))}


@pytest.mark.parametrize("ties", [False, True])
def test_per_image_metrics_match_sklearn(ties):
    probs, masks = random_batch(1, ties=ties)
    ev = PixelEvaluator(inverse=True)
    ev.process(probs, masks)
    res = ev.compute()
    ref = [sklearn_image(p.numpy().ravel(), m.numpy().ravel() > 0.5) for p, m in zip(probs, masks)]
    for name in ("f1", "precision", "recall", "iou", "mcc"):
        assert res[f"{name}@fixed/per_image"] == pytest.approx(np.mean([r[name] for r in ref]), abs=TOL)
    assert res["f1@fixed/per_image"] == pytest.approx(np.mean([r["f1_sklearn"] for r in ref]), abs=TOL)
    assert res["f1@best/per_image"] == pytest.approx(np.mean([r["f1_best"] for r in ref]), abs=TOL)
    assert res["auc/per_image"] == pytest.approx(np.mean([r["auc"] for r in ref]), abs=TOL)
    assert res["f1_trivial/per_image"] == pytest.approx(np.mean([r["trivial"] for r in ref]), abs=TOL)
    assert res["f1_inverse@fixed/per_image"] == pytest.approx(np.mean([r["inverse"] for r in ref]), abs=TOL)


def test_best_threshold_counts_are_those_of_the_threshold():
    probs, masks = random_batch(2, n=1)
    prob, gt = probs.ravel(), masks.ravel() > 0.5
    auc, counts, thr = ranking_stats(prob, gt)
    pred = (prob >= thr).numpy()
    tn, fp, fn, tp = skm.confusion_matrix(gt.numpy(), pred).ravel()
    assert counts.tolist() == [tp, fp, fn, tn]
    assert float(auc) == pytest.approx(skm.roc_auc_score(gt.numpy(), prob.numpy()), abs=TOL)


@pytest.mark.parametrize("levels", [3, 10, 1000])
def test_best_threshold_with_mixed_ties_matches_every_sklearn_threshold(levels):
    """Quantised scores put both classes in the same score groups; the best split must be a real threshold."""
    g = torch.Generator().manual_seed(levels)
    for _ in range(5):
        gt = torch.rand(300, generator=g) < 0.3
        prob = torch.round((0.3 * gt + 0.7 * torch.rand(300, generator=g)) * levels) / levels
        auc, counts, thr = ranking_stats(prob, gt)
        prec, rec, thresholds = skm.precision_recall_curve(gt.numpy(), prob.numpy())
        f1 = [skm.f1_score(gt.numpy(), prob.numpy() >= t) for t in thresholds]
        tn, fp, fn, tp = skm.confusion_matrix(gt.numpy(), (prob >= thr).numpy()).ravel()
        assert counts.tolist() == [tp, fp, fn, tn]
        assert float(thr) in thresholds.tolist()
        assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(max(f1), abs=1e-12)
        assert float(thr) == thresholds[int(np.argmax(f1))]  # lowest threshold among equal F1
        assert float(auc) == pytest.approx(skm.roc_auc_score(gt.numpy(), prob.numpy()), abs=1e-12)


@pytest.mark.parametrize("max_elements", [0, 2**22])
def test_scratch_buffers_do_not_change_results(max_elements):
    buffers = Buffers(max_elements)
    for seed, size in ((0, 400), (1, 90), (2, 400)):
        g = torch.Generator().manual_seed(seed)
        gt = torch.rand(size, generator=g) < 0.3
        prob = torch.round(torch.rand(size, generator=g) * 20) / 20
        pixels = sort_pixels(score_keys(prob, gt, buffers), buffers)
        reference = ranking_stats(prob, gt)
        for ours, ref in zip(sorted_ranking(pixels, buffers), reference):
            torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_fixed_threshold_not_representable_in_float32():
    """0.3 is not a float32: counts must follow ``prob >= 0.3`` exactly for scores one step either side."""
    t32 = torch.tensor(0.3, dtype=torch.float32)
    near = torch.stack([torch.nextafter(t32, torch.tensor(0.0)), t32,
                        torch.nextafter(t32, torch.tensor(1.0))])
    prob = torch.cat([near, torch.rand(61, generator=torch.Generator().manual_seed(0))]).view(1, 8, 8)
    mask = torch.zeros(1, 8, 8)
    mask[0, :4] = 1
    ev = PixelEvaluator(threshold=0.3)
    ev.process(prob, mask)
    rows = ev.per_image()
    gt, pred = mask.numpy().ravel() > 0.5, prob.numpy().ravel() >= 0.3
    tn, fp, fn, tp = skm.confusion_matrix(gt, pred).ravel()
    assert [rows[f"{c}@fixed"][0] for c in ("tp", "fp", "fn", "tn")] == [tp, fp, fn, tn]


@pytest.mark.parametrize("bins", [1, 7, 10, 10000])
def test_sorted_histogram_equals_binning(bins):
    """Scores at, just below and just above every bin edge k / bins fall in ``floor(p * bins)``."""
    k = torch.arange(bins + 1, dtype=torch.float64) / bins
    at = k.float()
    noise = torch.rand(500, generator=torch.Generator().manual_seed(1))
    prob = torch.cat([at, torch.nextafter(at, torch.zeros_like(at)), torch.nextafter(at, torch.ones_like(at)),
                      torch.tensor([-0.0, 0.0, 1.0]), noise])
    gt = torch.rand(len(prob), generator=torch.Generator().manual_seed(2)) < 0.4
    index = torch.clamp((prob.double() * bins).long(), 0, bins - 1)
    expected = torch.stack([torch.bincount(index[~gt], minlength=bins),
                            torch.bincount(index[gt], minlength=bins)])
    assert torch.equal(histogram(prob, gt, bins), expected)


def test_images_of_different_sizes_in_one_stream():
    """Scratch buffers are reused across images; mixing sizes must not change any value."""
    small, small_masks = random_batch(10, n=3, size=16, ties=True)
    large, large_masks = random_batch(11, n=2, size=32)
    stream = PixelEvaluator(inverse=True)
    for probs, masks in ((large, large_masks), (small, small_masks), (large[:1], large_masks[:1])):
        stream.process(probs, masks)
    separate = [PixelEvaluator(inverse=True) for _ in range(3)]
    separate[0].process(large, large_masks)
    separate[1].process(small, small_masks)
    separate[2].process(large[:1], large_masks[:1])
    merged = PixelEvaluator(inverse=True)
    merged.merge([e.state_dict() for e in separate])
    torch.testing.assert_close(stream.state_dict()["rows"], merged.state_dict()["rows"], equal_nan=True,
                               rtol=0, atol=0)
    assert torch.equal(stream.state_dict()["hist"], merged.state_dict()["hist"])


def test_valid_mask_excludes_pixels():
    probs, masks = random_batch(3, n=2)
    valid = torch.zeros_like(masks, dtype=torch.bool)
    valid[..., :16] = True
    ev = PixelEvaluator()
    ev.process(probs, masks, valid)
    p, m = probs[..., :16].numpy(), masks[..., :16].numpy() > 0.5
    ref = [sklearn_image(p[i].ravel(), m[i].ravel()) for i in range(2) if m[i].any()]
    assert ev.compute()["f1@fixed/per_image"] == pytest.approx(np.mean([r["f1"] for r in ref]), abs=TOL)


def test_dataset_level_pooled_matches_sklearn():
    probs, masks = random_batch(4, n=8)
    ev = PixelEvaluator(bins=50)
    ev.process(probs, masks)
    res = ev.compute()
    prob, gt = probs.numpy().ravel(), masks.numpy().ravel() > 0.5
    pred = prob >= 0.5
    assert res["f1@fixed/dataset"] == pytest.approx(skm.f1_score(gt, pred), abs=TOL)
    assert res["mcc@fixed/dataset"] == pytest.approx(skm.matthews_corrcoef(gt, pred), abs=TOL)
    assert res["iou@fixed/dataset"] == pytest.approx(skm.jaccard_score(gt, pred), abs=TOL)
    assert res["f1_trivial/dataset"] == pytest.approx(skm.f1_score(gt, np.ones_like(gt)), abs=TOL)
    grid = [skm.f1_score(gt, prob >= k / 50) for k in range(50)]
    assert res["f1@best/dataset"] == pytest.approx(max(grid), abs=TOL)
    assert res["threshold@best/dataset"] == pytest.approx(int(np.argmax(grid)) / 50)


@pytest.mark.parametrize("bins", [10, 100, 10000])
def test_streaming_auc_error_is_bounded(bins):
    probs, masks = random_batch(5, n=8)
    prob, gt = probs.ravel(), masks.ravel() > 0.5
    exact = skm.roc_auc_score(gt.numpy(), prob.numpy())
    auc, bound = histogram_auc(histogram(prob, gt, bins))
    assert abs(auc - exact) <= bound + 1e-12
    assert bound < 2.0 / bins  # scores are spread, so few pairs share a bin


def test_streaming_auc_is_exact_when_scores_sit_on_distinct_bins():
    probs, masks = random_batch(6, n=4, ties=True)  # scores k/10 fall in distinct bins of 20
    prob, gt = probs.ravel(), masks.ravel() > 0.5
    auc, _ = histogram_auc(histogram(prob * 0.999 + 0.0005, gt, 20))
    assert auc == pytest.approx(skm.roc_auc_score(gt.numpy(), prob.numpy()), abs=TOL)


def test_detection_auc_and_balanced_accuracy():
    probs, masks = random_batch(7, n=10)
    masks[::3] = 0
    for mode, top in (("max", 1.0), ("topk", 5.0)):
        ev = PixelEvaluator(image_score=mode, top_percent=top)
        ev.process(probs, masks)
        res = ev.compute()
        flat = probs.reshape(10, -1).numpy()
        k = math.ceil(flat.shape[1] * top / 100)
        scores = flat.max(1) if mode == "max" else np.sort(flat, 1)[:, -k:].mean(1)
        labels = masks.reshape(10, -1).numpy().max(1) > 0
        assert np.allclose(ev.per_image()["image_score"], scores, atol=1e-6)
        assert res["detection/auc"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=TOL)
        expected = skm.balanced_accuracy_score(labels, scores >= 0.5)
        assert res["detection/balanced_acc@fixed"] == pytest.approx(expected, abs=TOL)


def test_edge_cases_are_excluded_and_counted():
    size = 16
    empty = torch.zeros(1, size, size)
    full = torch.ones(1, size, size)
    half = torch.zeros(1, size, size)
    half[:, :8] = 1
    masks = torch.stack([empty, full, half, half])
    probs = torch.rand(4, 1, size, size, generator=torch.Generator().manual_seed(0))
    probs[3] = 0.7  # constant prediction
    ev = PixelEvaluator()
    ev.process(probs, masks)
    res = ev.compute()
    assert res["count/authentic"] == 1 and res["count/tampered"] == 3
    assert res["count/all_tampered_gt"] == 1 and res["count/constant_pred"] == 1
    assert res["count/auc_undefined"] == 2
    expected_auc = skm.roc_auc_score(half.ravel().numpy(), probs[2].ravel().numpy())
    assert res["auc/per_image"] == pytest.approx(expected_auc, abs=TOL)
    f1 = [skm.f1_score(m.ravel().numpy() > 0, p.ravel().numpy() >= 0.5) for m, p in zip(masks[1:], probs[1:])]
    assert res["f1@fixed/per_image"] == pytest.approx(np.mean(f1), abs=TOL)


def test_no_tampered_image_gives_undefined_not_zero():
    ev = PixelEvaluator()
    ev.process(torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
    res = ev.compute()
    assert math.isnan(res["f1@fixed/per_image"]) and math.isnan(res["auc/dataset"])
    assert math.isnan(summarize(res)["auc"])


def test_streaming_equals_one_shot_and_merge():
    probs, masks = random_batch(8, n=6)
    one = PixelEvaluator(bins=64)
    one.process(probs, masks)
    parts = [PixelEvaluator(bins=64) for _ in range(2)]
    parts[0].process(probs[:1], masks[:1])
    parts[0].process(probs[1:3, 0], masks[1:3, 0])
    parts[1].process(probs[3:], masks[3:])
    merged = PixelEvaluator(bins=64)
    merged.merge([p.state_dict() for p in parts])
    assert merged.compute() == pytest.approx(one.compute(), nan_ok=True)


def test_rejects_logits_and_shape_mismatch():
    ev = PixelEvaluator()
    with pytest.raises(ValueError, match="probabilities"):
        ev.process(torch.randn(1, 1, 8, 8) * 5, torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        ev.process(torch.rand(1, 1, 8, 8), torch.zeros(1, 1, 4, 8))


def _ddp_worker(rank: int, probs, masks, queue) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=2)
    ev = PixelEvaluator(bins=64)
    ev.process(probs[rank::2], masks[rank::2])
    ev.all_reduce()
    if rank == 0:
        queue.put(ev.compute())
    dist.barrier()  # gloo aborts a rank whose peer tears the group down first
    dist.destroy_process_group()
    queue.close()
    queue.join_thread()
    os._exit(0)  # no interpreter teardown: gloo's threads now and then abort there (tests/test_distributed.py)


@pytest.mark.slow
def test_all_reduce_with_gloo_covers_every_image_once(gloo_store):
    probs, masks = random_batch(9, n=5)
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.multiprocessing.start_processes(_ddp_worker, args=(probs, masks, queue), nprocs=2,
                                          start_method="spawn")
    reduced = queue.get(timeout=30)
    single = PixelEvaluator(bins=64)
    single.process(probs, masks)
    assert reduced["count/images"] == 5
    assert reduced == pytest.approx(single.compute(), nan_ok=True)
