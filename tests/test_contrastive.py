"""Contrastive terms and patch sampling, against hand values and a naive O(N²) float64 reference."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from utils.losses import CaCLCriterion, LossConfig
from utils.losses.contrastive import contour_contrastive, embedding_collapse, pivot_consistency, supcon_loss
from utils.losses.patches import patch_labels
from utils.losses.sampling import class_quotas, sample_branch


def test_supcon_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.6, 0.8]])
    labels = torch.tensor([0, 0, 1, 1])
    # dot products / τ (τ = 0.5): (1,2) 1.2, (1,3) 0, (1,4) -1.2, (2,3) 1.6, (2,4) 0.56, (3,4) 1.6
    e = math.exp
    anchors = [
        -(1.2 - math.log(e(1.2) + e(0) + e(-1.2))),
        -(1.2 - math.log(e(1.2) + e(1.6) + e(0.56))),
        -(1.6 - math.log(e(0) + e(1.6) + e(1.6))),
        -(1.6 - math.log(e(-1.2) + e(0.56) + e(1.6))),
    ]
    assert supcon_loss(z, labels, 0.5).item() == pytest.approx(sum(anchors) / 4, rel=1e-6)


def _supcon_by_definition(z: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """The loss term by term from its definition: anchor i, its positives p and every other sample a."""
    terms = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        log_denominator = torch.logsumexp(torch.stack([z[i] @ z[a] / tau for a in others]), 0)
        positives = [p for p in others if labels[p] == labels[i]]
        terms.append(-torch.stack([z[i] @ z[p] / tau - log_denominator for p in positives]).mean())
    return torch.stack(terms).mean()


def test_supcon_and_its_gradient_equal_the_definition_with_unequal_classes() -> None:
    torch.manual_seed(0)
    z = F.normalize(torch.randn(11, 5, dtype=torch.float64), dim=1).requires_grad_()
    labels = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    got, expected = supcon_loss(z, labels, 0.2), _supcon_by_definition(z, labels, 0.2)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
    grads = [torch.autograd.grad(value, z)[0] for value in (got, expected)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_supcon_symmetric_square() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    expected = math.log(2 + math.exp(-1))  # every anchor: one positive at 0, negatives at 0 and -1
    assert supcon_loss(z, torch.tensor([0, 0, 1, 1]), 1.0).item() == pytest.approx(expected)


def test_supcon_undefined_with_a_lone_class_member() -> None:
    z = F.normalize(torch.randn(5, 3), dim=1)
    assert supcon_loss(z, torch.tensor([0, 0, 0, 0, 1]), 0.1) is None
    assert supcon_loss(z, torch.zeros(5, dtype=torch.long), 0.1) is None


def test_pivot_by_hand() -> None:
    z_t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_a = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    assert pivot_consistency(z_t, z_a).item() == pytest.approx(0.2)
    assert pivot_consistency(z_t[:0], z_a[:0]) is None


@pytest.mark.parametrize("detach", ["t", "a"])
def test_a_detached_pivot_target_moves_only_the_other_branch(detach: str) -> None:
    z_t = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z_a = torch.tensor([[0.6, 0.8], [0.0, 1.0]], requires_grad=True)
    loss = pivot_consistency(z_t, z_a, detach)
    assert loss.item() == pytest.approx(0.2)  # the value does not change, only where gradients go
    loss.backward()
    moved, target = (z_a, z_t) if detach == "t" else (z_t, z_a)
    assert target.grad is None
    torch.testing.assert_close(moved.grad, -target.detach() / 2)  # d/dz_i mean_i(1 − z_i·y_i) = −y_i/n


def test_an_undetached_pivot_term_moves_both_branches() -> None:
    z_t = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z_a = torch.tensor([[0.6, 0.8], [0.0, 1.0]], requires_grad=True)
    pivot_consistency(z_t, z_a).backward()
    torch.testing.assert_close(z_t.grad, -z_a.detach() / 2)
    torch.testing.assert_close(z_a.grad, -z_t.detach() / 2)


def test_embedding_collapse_by_hand() -> None:
    same = F.normalize(torch.tensor([[1.0, 2.0]]), dim=1).repeat(5, 1)
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    square = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert embedding_collapse(same, same).item() == pytest.approx(1.0)
    assert embedding_collapse(opposite, opposite).item() == pytest.approx(0.0)
    assert embedding_collapse(same, square).item() == pytest.approx((1 + 0.5 ** 0.5) / 2)


def naive_terms(embed_t: torch.Tensor, embed_a: torch.Tensor, mask: torch.Tensor, tau: float,
                drop_contour: bool = False, contrast: bool = True):
    """METHOD.md §3 written out with loops over every patch (4×4 cells, eps = 0), no sampling;
    ``drop_contour`` leaves the mixed cells out altogether (the ``--contour-patches drop`` baseline)."""
    batch, _, h, w = embed_t.shape
    kinds, z_t, z_a = [], [], []
    for b in range(batch):
        for i in range(h):
            for j in range(w):
                frac = mask[b, 0, 4 * i:4 * i + 4, 4 * j:4 * j + 4].mean().item()
                kind = "T" if frac == 1 else "A" if frac == 0 else "C"
                if drop_contour and kind == "C":
                    continue
                kinds.append(kind)
                z_t.append(embed_t[b, :, i, j])
                z_a.append(embed_a[b, :, i, j])

    def branch(z: list, labels: list):
        if min(labels.count(0), labels.count(1)) < 2:
            return None
        per_anchor = []
        for i, z_i in enumerate(z):
            denominator = sum(torch.exp(z_i @ z_k / tau) for k, z_k in enumerate(z) if k != i)
            positives = [k for k in range(len(z)) if k != i and labels[k] == labels[i]]
            logs = [torch.log(torch.exp(z_i @ z[p] / tau) / denominator) for p in positives]
            per_anchor.append(-sum(logs) / len(positives))
        return sum(per_anchor) / len(z)

    branches = [branch(z_t, [int(k != "A") for k in kinds]), branch(z_a, [int(k == "T") for k in kinds])]
    defined = [x for x in branches if x is not None]
    pivot = [1 - z_t[i] @ z_a[i] for i, k in enumerate(kinds) if k != "C"]
    return sum(defined) / len(defined) if contrast else None, sum(pivot) / len(pivot)


def _tiny_case(dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(2, 1, 12, 16)
    mask[0, :, 2:9, 3:11] = 1
    mask[1, :, 4:12, 8:16] = 1
    raw_t = torch.randn(2, 5, 3, 4, generator=gen, dtype=dtype, requires_grad=True)
    raw_a = torch.randn(2, 5, 3, 4, generator=gen, dtype=dtype, requires_grad=True)
    return mask, raw_t, raw_a


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_criterion_matches_naive_reference(dtype: torch.dtype, tol: float) -> None:
    mask, raw_t, raw_a = _tiny_case(dtype)
    outputs = {"mask": torch.zeros(mask.shape, dtype=dtype), "embed_t": F.normalize(raw_t, dim=1),
               "embed_a": F.normalize(raw_a, dim=1)}
    config = LossConfig(lambda_contour=0, lambda_contrast=0.3, lambda_pivot=0.7, temperature=0.2,
                        num_anchors=64)
    result = CaCLCriterion(config)(outputs, mask)
    got = torch.autograd.grad(result["total"], (raw_t, raw_a))

    ref_t, ref_a = raw_t.detach().double().requires_grad_(), raw_a.detach().double().requires_grad_()
    ncl, pc = naive_terms(F.normalize(ref_t, dim=1), F.normalize(ref_a, dim=1), mask, 0.2)
    expected = torch.autograd.grad(0.3 * ncl + 0.7 * pc, (ref_t, ref_a))
    assert result["loss_contrast"].item() == pytest.approx(ncl.item(), rel=tol)
    assert result["loss_pivot"].item() == pytest.approx(pc.item(), rel=tol)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.double(), e, rtol=tol * 10, atol=tol)
    assert result["n_tampered"] + result["n_authentic"] + result["n_contour"] == 24


def test_dropped_contour_patches_match_naive_reference() -> None:
    mask, raw_t, raw_a = _tiny_case(torch.float64)
    e_t, e_a = F.normalize(raw_t, dim=1), F.normalize(raw_a, dim=1)
    outputs = {"mask": torch.zeros(mask.shape, dtype=torch.float64), "embed_t": e_t, "embed_a": e_a}
    config = LossConfig(lambda_contour=0, lambda_contrast=1, lambda_pivot=1, temperature=0.2, num_anchors=64,
                        contour_patches="drop")
    result = CaCLCriterion(config)(outputs, mask)
    ncl, pc = naive_terms(e_t, e_a, mask, 0.2, drop_contour=True)
    assert result["loss_contrast"].item() == pytest.approx(ncl.item(), rel=1e-10)
    assert result["loss_pivot"].item() == pytest.approx(pc.item(), rel=1e-10)
    assert result["n_contour"] == 0 and result["n_tampered"] + result["n_authentic"] < 24


def test_image_scope_averages_the_naive_reference_over_images() -> None:
    mask, raw_t, raw_a = _tiny_case(torch.float64)
    mask[1] = 0  # an authentic image: no tampered patch, so neither term is defined there...
    mask[1, :, :4, :4] = 1  # ...unless it has a corner region: 1 tampered cell, 11 authentic
    e_t, e_a = F.normalize(raw_t, dim=1), F.normalize(raw_a, dim=1)
    outputs = {"mask": torch.zeros(mask.shape, dtype=torch.float64), "embed_t": e_t, "embed_a": e_a}
    config = LossConfig(lambda_contour=0, lambda_contrast=1, lambda_pivot=1, temperature=0.2, num_anchors=64,
                        contrast_scope="image")
    result = CaCLCriterion(config)(outputs, mask)
    # image 1 has a single tampered patch, so only image 0 defines L_ncl; both define L_pc
    ncl_0, pc_0 = naive_terms(e_t[:1], e_a[:1], mask[:1], 0.2)
    _, pc_1 = naive_terms(e_t[1:], e_a[1:], mask[1:], 0.2, contrast=False)
    assert result["loss_contrast"].item() == pytest.approx(ncl_0.item(), rel=1e-10)
    assert result["loss_pivot"].item() == pytest.approx((pc_0 + pc_1).item() / 2, rel=1e-10)
    assert result["n_tampered"] + result["n_authentic"] + result["n_contour"] == 24


def test_gradcheck_float64() -> None:
    mask, raw_t, raw_a = _tiny_case(torch.float64, seed=1)
    labels = patch_labels(mask, (3, 4))

    def terms(e_t: torch.Tensor, e_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = contour_contrastive(F.normalize(e_t, dim=1), F.normalize(e_a, dim=1), labels,
                                  temperature=0.3, num_anchors=64, hard_ratio=0.0, pivot_detach="none")
        return out.contrast, out.pivot

    assert torch.autograd.gradcheck(terms, (raw_t, raw_a))


def test_class_quotas() -> None:
    assert class_quotas(10, 10, 8) == (4, 4)
    assert class_quotas(2, 10, 8) == (2, 6), "a short class leaves its share to the other"
    assert class_quotas(10, 0, 8) == (8, 0)
    assert class_quotas(3, 2, 100) == (3, 2)


def _patches(n_neg: int, n_pos: int, n_contour_pos: int):
    positive = torch.arange(n_neg + n_pos) >= n_neg
    contour = torch.zeros_like(positive)
    contour[n_neg:n_neg + n_contour_pos] = True
    return positive, contour


def test_sampling_balances_classes_and_prioritises_contours() -> None:
    positive, contour = _patches(150, 1000, 30)
    gen = torch.Generator().manual_seed(0)
    selected = sample_branch(positive, contour, 60, generator=gen)
    assert (selected & positive).sum() == 30 and (selected & ~positive).sum() == 30
    # a third of the 30 positive slots go to contour patches first; random draws would give about one
    assert 10 <= (selected & contour).sum() <= 12
    positive, contour = _patches(150, 150, 5)
    assert (sample_branch(positive, contour, 60, generator=gen) & contour).sum() == 5


def test_hard_ratio_draws_from_hard_patches() -> None:
    positive, contour = _patches(150, 150, 0)
    hard = torch.zeros_like(positive)
    hard[:20] = True  # 20 hard negatives: random draws would take about 4 of them
    gen = torch.Generator().manual_seed(0)
    selected = sample_branch(positive, contour, 60, hard=hard, hard_ratio=0.5, generator=gen)
    assert (selected & hard).sum() == 15 and selected.sum() == 60
    assert (sample_branch(positive, contour, 60, generator=gen) & hard).sum() < 15


def test_sampling_never_picks_an_ineligible_patch() -> None:
    positive = torch.arange(40) % 2 == 0
    contour = torch.arange(40) < 8
    eligible = torch.arange(40) >= 4  # half of the contour patches of each class are out
    selected = sample_branch(positive, contour, 60, generator=torch.Generator().manual_seed(0),
                             eligible=eligible)
    assert not (selected & ~eligible).any() and selected.sum() == 36


def test_sampling_deterministic_given_a_generator() -> None:
    positive, contour = _patches(500, 300, 50)
    seeds = (3, 3, 4)
    picks = [sample_branch(positive, contour, 64, generator=torch.Generator().manual_seed(s)) for s in seeds]
    assert torch.equal(picks[0], picks[1]) and not torch.equal(picks[0], picks[2])
