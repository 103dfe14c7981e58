"""Mask losses, contour BCE, patch labels and the criterion, checked against hand-computed values."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math

import numpy as np
import pytest
import torch

from modeling import build_model
from utils.contour import CONTOUR_WIDTH
from utils.errors import UserError
from utils.losses import MASK_LOSSES, CaCLCriterion, LossConfig
from utils.losses.contour_bce import contour_bce
from utils.losses.contrastive import contour_contrastive
from utils.losses.mask import bce_loss, dice_loss, focal_loss
from utils.losses.patches import AUTHENTIC, CONTOUR, IGNORED, TAMPERED, patch_labels
from utils.losses.sampling import sample_patches, sample_patches_per_image

LN2, LN43 = math.log(2), math.log(4 / 3)
# sigmoid of these logits: 0.5, 0.75 / 0.25, 0.5; the first row is tampered
LOGITS = torch.tensor([[0.0, math.log(3)], [-math.log(3), 0.0]]).view(1, 1, 2, 2)
TARGET = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)


def test_bce_by_hand() -> None:
    assert bce_loss(LOGITS, TARGET).item() == pytest.approx((2 * LN2 + 2 * LN43) / 4)
    weighted = (2 * (LN2 + LN43) + LN43 + LN2) / 4
    assert bce_loss(LOGITS, TARGET, pos_weight=2.0).item() == pytest.approx(weighted)


def test_dice_by_hand() -> None:
    # intersection 0.5 + 0.75 = 1.25, Σp = 2, Σt = 2, smoothing 1
    assert dice_loss(LOGITS, TARGET).item() == pytest.approx(1 - (2 * 1.25 + 1) / (2 + 2 + 1))
    authentic = torch.zeros_like(TARGET)
    assert dice_loss(LOGITS, authentic).item() == pytest.approx(2 / 3), "Σp/(Σp+1)"
    with pytest.raises(UserError):
        dice_loss(LOGITS, TARGET, pos_weight=2.0)


def test_focal_is_per_pixel() -> None:
    # (1-p_t)^2 * BCE per pixel: p_t = 0.5, 0.75, 0.75, 0.5
    expected = (2 * 0.25 * LN2 + 2 * 0.0625 * LN43) / 4
    assert focal_loss(LOGITS, TARGET).item() == pytest.approx(expected)
    mean_bce = (2 * LN2 + 2 * LN43) / 4
    assert expected != pytest.approx((1 - math.exp(-mean_bce)) ** 2 * mean_bce)
    weighted = (1.5 * (0.25 * LN2 + 0.0625 * LN43) + 0.0625 * LN43 + 0.25 * LN2) / 4
    assert focal_loss(LOGITS, TARGET, pos_weight=1.5).item() == pytest.approx(weighted)


def test_bce_dice_is_the_sum() -> None:
    total = MASK_LOSSES.get("bce_dice")(LOGITS, TARGET)
    assert total.item() == pytest.approx(bce_loss(LOGITS, TARGET).item() + dice_loss(LOGITS, TARGET).item())
    assert MASK_LOSSES.names() == ["bce", "bce_dice", "dice", "focal"]


def test_mask_losses_reach_zero_on_confident_right_predictions() -> None:
    logits = (TARGET * 2 - 1) * 30
    for name in ("bce", "focal"):
        assert MASK_LOSSES.get(name)(logits, TARGET).item() < 1e-6
    assert dice_loss(logits, TARGET).item() < 1e-6


def test_contour_bce_weights_by_hand() -> None:
    band = torch.zeros(2, 1, 2, 2)
    band[0, 0, 0, 0] = 1  # 1 of 4 pixels: positive weight 3/4, negatives 1/4; image 2 has no band
    loss = contour_bce(torch.zeros(2, 1, 2, 2), band)
    assert loss.item() == pytest.approx((0.75 * LN2 + 3 * 0.25 * LN2) / 8)


def test_contour_bce_gradcheck() -> None:
    band = (torch.rand(2, 1, 3, 4, generator=torch.Generator().manual_seed(0)) > 0.6).double()
    logits = torch.randn(2, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: contour_bce(x, band), (logits,))
    for name in MASK_LOSSES:
        assert torch.autograd.gradcheck(lambda x: MASK_LOSSES.get(name)(x, band), (logits,))


def test_patch_labels_by_hand() -> None:
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., :8, :6] = 1  # 4×4 cells; the band (w=1) covers rows 7–8 and columns 5–6
    t, a, c = TAMPERED, AUTHENTIC, CONTOUR
    assert patch_labels(mask, (3, 3), "mixed")[0].tolist() == [[t, c, a], [t, c, a], [a, a, a]]
    band = patch_labels(mask, (3, 3), "band", contour_width=1)[0].tolist()
    assert band == [[t, c, a], [c, c, a], [c, c, a]]
    x = IGNORED
    assert patch_labels(mask, (3, 3), "drop")[0].tolist() == [[t, x, a], [t, x, a], [a, a, a]]
    aligned = torch.zeros(1, 1, 8, 8)
    aligned[..., :4, :4] = 1
    assert (patch_labels(aligned, (2, 2), "mixed") != CONTOUR).all(), "cell-aligned region: no contour"


def _adaptive_fraction(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Cell i spans pixels floor(i·H/h) .. ceil((i+1)·H/h) − 1 (adaptive pooling's bins)."""
    (height, width), (h, w) = mask.shape, grid
    out = np.zeros(grid)
    for i in range(h):
        for j in range(w):
            rows = slice(i * height // h, -(-(i + 1) * height // h))
            cols = slice(j * width // w, -(-(j + 1) * width // w))
            out[i, j] = mask[rows, cols].mean()
    return out


def test_patch_labels_odd_size_follow_adaptive_cells() -> None:
    rng = np.random.default_rng(3)
    mask = (rng.random((2, 1, 13, 18)) < 0.5).astype(np.float32)
    labels = patch_labels(torch.from_numpy(mask), (4, 5), "mixed")
    for b in range(2):
        frac = _adaptive_fraction(mask[b, 0], (4, 5))
        expected = np.where(frac == 1, TAMPERED, np.where(frac == 0, AUTHENTIC, CONTOUR))
        np.testing.assert_array_equal(labels[b].numpy(), expected)


def _outputs(mask: torch.Tensor, dim: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random model outputs for ``mask``; embeddings on the ceil(H/4) grid, L2-normalised, leaf tensors."""
    gen = torch.Generator().manual_seed(seed)
    batch, _, height, width = mask.shape
    grid = (batch, dim, -(-height // 4), -(-width // 4))
    raw = {"mask": torch.randn(mask.shape, generator=gen), "contour": torch.randn(mask.shape, generator=gen),
           "embed_t": torch.randn(grid, generator=gen), "embed_a": torch.randn(grid, generator=gen)}
    leaves = {k: v.requires_grad_() for k, v in raw.items()}
    return leaves


def _normalised(leaves: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: torch.nn.functional.normalize(v, dim=1) if k.startswith("embed") else v
            for k, v in leaves.items()}


def _edge_masks() -> dict[str, torch.Tensor]:
    mixed = torch.zeros(2, 1, 30, 26)
    mixed[0, :, 5:17, 3:20] = 1
    aligned = torch.zeros(2, 1, 32, 32)
    aligned[:, :, 8:24, 4:16] = 1  # region on 4-pixel cell boundaries: no contour patch in "mixed"
    return {"authentic": torch.zeros(2, 1, 30, 26), "tampered": torch.ones(2, 1, 30, 26),
            "no_contour": aligned, "mixed": torch.cat([mixed, torch.ones(1, 1, 30, 26)])}


@pytest.mark.parametrize("case", ["authentic", "tampered", "no_contour", "mixed"])
def test_edge_cases_are_finite(case: str) -> None:
    mask = _edge_masks()[case]
    leaves = _outputs(mask)
    result = CaCLCriterion(LossConfig(num_anchors=64, hard_ratio=0.25))(_normalised(leaves), mask)
    result["total"].backward()
    assert all(torch.isfinite(v).all() for v in result.values())
    assert all(torch.isfinite(t.grad).all() for t in leaves.values())
    counts = [result[k].item() for k in ("n_tampered", "n_authentic", "n_contour", "n_branches")]
    expected = {"authentic": 0, "tampered": 0, "no_contour": 2, "mixed": 2}[case]
    assert counts[3] == expected, "branches defined"
    if case == "no_contour":
        assert counts[2] == 0 and counts[0] > 0 and counts[1] > 0
    if expected == 0:
        assert result["loss_contrast"].item() == 0


def test_zero_weights_skip_terms() -> None:
    mask = _edge_masks()["mixed"]
    criterion = CaCLCriterion(LossConfig(lambda_contour=0, lambda_contrast=0, lambda_pivot=0))
    assert not criterion.needs_embeddings
    result = criterion({"mask": _outputs(mask)["mask"]}, mask)  # no contour or embedding outputs needed
    assert set(result) == {"total", "loss_mask"}
    only_pivot = CaCLCriterion(LossConfig(lambda_contrast=0))(_normalised(_outputs(mask)), mask)
    assert "loss_contrast" not in only_pivot and "loss_pivot" in only_pivot and "loss_contour" in only_pivot


def test_total_is_the_weighted_sum() -> None:
    mask = _edge_masks()["mixed"]
    result = CaCLCriterion(LossConfig(lambda_contour=0.5, lambda_contrast=0.25, lambda_pivot=2.0))(
        _normalised(_outputs(mask)), mask)
    expected = (result["loss_mask"] + 0.5 * result["loss_contour"] + 0.25 * result["loss_contrast"]
                + 2.0 * result["loss_pivot"])
    assert result["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert result["loss_contrast"].item() > 0 and not result["loss_contrast"].requires_grad


def test_the_contrastive_terms_start_at_their_iteration() -> None:
    mask = _edge_masks()["mixed"]
    criterion = CaCLCriterion(LossConfig(contrast_start_iter=3))
    outputs = _normalised(_outputs(mask))
    for iteration in (0, 2):
        before = criterion.for_iteration(iteration)
        assert not before.needs_embeddings and before.patch_selector(mask) is None
        assert set(before({"mask": outputs["mask"], "contour": outputs["contour"]}, mask)) == {
            "total", "loss_mask", "loss_contour"}  # no embeddings needed before the start
    for iteration in (3, 100):
        assert criterion.for_iteration(iteration) is criterion
    torch.manual_seed(0)
    after = criterion.for_iteration(3)(outputs, mask)
    torch.manual_seed(0)
    assert after["total"].item() == CaCLCriterion()(outputs, mask)["total"].item()
    assert CaCLCriterion().for_iteration(0).needs_embeddings  # 0: on from the first iteration


def test_deterministic_under_seed() -> None:
    mask = _edge_masks()["mixed"]
    criterion = CaCLCriterion(LossConfig(num_anchors=16, hard_ratio=0.5))
    outputs = _normalised(_outputs(mask))
    runs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        runs.append(criterion(outputs, mask)["loss_contrast"].item())
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_contrastive_terms_in_float32_under_autocast() -> None:
    mask = _edge_masks()["mixed"]
    outputs = {k: v.detach().to(torch.bfloat16) for k, v in _normalised(_outputs(mask)).items()}
    criterion = CaCLCriterion(LossConfig(num_anchors=1024))  # covers every patch: no sampling noise
    reference = criterion({k: v.float() for k, v in outputs.items()}, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = criterion(outputs, mask)
    for name in ("loss_mask", "loss_contour", "loss_contrast", "loss_pivot"):
        assert result[name].dtype == torch.float32
        assert result[name].item() == pytest.approx(reference[name].item(), rel=1e-5)


def test_criterion_from_a_config_and_bad_settings() -> None:
    config = LossConfig(loss_type="focal", lambda_contour=0.2, lambda_contrast=0.1, lambda_pivot=0.1,
                        temperature=0.1, contour_width=2, contour_patches="band", num_anchors=256,
                        hard_ratio=0.1, pos_weight=2.0, contrast_scope="image")
    criterion = CaCLCriterion(config)
    assert criterion.mask_loss is MASK_LOSSES.get("focal") and criterion.contour_patches == "band"
    assert not hasattr(criterion, "loss_type")  # read once, to pick the mask loss
    assert criterion.contrast_scope == "image"
    for bad in ({"loss_type": "dise"}, {"temperature": 0}, {"hard_ratio": 1.5}, {"contour_patches": "x"},
                {"lambda_pivot": -1}, {"num_anchors": 2}, {"pos_weight": 0}, {"contrast_scope": "pair"},
                {"contrast_start_iter": -1}, {"pivot_detach": "both"}):
        with pytest.raises(UserError, match=f"^{next(iter(bad))} "):
            dataclasses.replace(config, **bad)
    with pytest.raises(UserError, match="projection"):
        CaCLCriterion()({"mask": torch.zeros(1, 1, 8, 8), "contour": torch.zeros(1, 1, 8, 8)},
                        torch.zeros(1, 1, 8, 8))


def test_each_loss_default_is_defined_once() -> None:
    """temperature, num_anchors, hard_ratio and pivot_detach default in LossConfig only (the contrastive
    functions take them from it); the contour band's width defaults to utils.contour's constant."""
    contrastive_names = ("temperature", "num_anchors", "hard_ratio", "pivot_detach")
    for function, names in ((contour_contrastive, contrastive_names),
                            (sample_patches, ("num_anchors", "hard_ratio")),
                            (sample_patches_per_image, ("num_anchors", "hard_ratio"))):
        for name in names:
            assert inspect.signature(function).parameters[name].default is inspect.Parameter.empty, name
    assert LossConfig.contour_width is CONTOUR_WIDTH
    assert inspect.signature(patch_labels).parameters["contour_width"].default is CONTOUR_WIDTH


def test_contrastive_memory_does_not_grow_with_area() -> None:
    """A 2048² mask has 262144 patches; an N×N similarity would need 275 GB, samples need 64²."""
    mask = torch.zeros(1, 1, 2048, 2048)
    mask[..., 500:1500, 300:900] = 1
    embed = torch.nn.functional.normalize(torch.randn(1, 4, 512, 512), dim=1)
    outputs = {"mask": torch.zeros_like(mask), "contour": torch.zeros_like(mask), "embed_t": embed,
               "embed_a": embed}
    result = CaCLCriterion(LossConfig(num_anchors=64, lambda_contour=0))(outputs, mask)
    assert result["n_branches"].item() == 2
    assert result["n_tampered"] + result["n_authentic"] + result["n_contour"] <= 128


@pytest.mark.parametrize("options", [{}, {"contrast_scope": "image"}, {"hard_ratio": 0.5, "contour_patches": "band"}],
                         ids=["batch", "image", "hard-band"])
def test_sampled_projection_equals_the_dense_path(options: dict) -> None:
    """The model projecting only the criterion's sampled patches gives the loss terms, the gradients and the
    BatchNorm statistics of projecting every position (float64, same seed, so the same samples)."""
    torch.manual_seed(0)
    dense_model = build_model("mobilenet", embed_dim=16).double().train()
    sampled_model = copy.deepcopy(dense_model)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    masks = torch.zeros(2, 1, 64, 64, dtype=torch.float64)
    masks[0, :, 10:41, 12:50], masks[1, :, 30:60, :21] = 1, 1
    criterion = CaCLCriterion(LossConfig(num_anchors=64, **options))  # 64 of 512 patches: a real sample
    torch.manual_seed(1)
    dense = criterion(dense_model(images), masks)
    torch.manual_seed(1)
    outputs = sampled_model(images, criterion.patch_selector(masks))
    sampled = criterion(outputs, masks)
    assert outputs["embed_t"].shape == (len(outputs["patches"].index), 16)  # rows, not a (B,D,h,w) map
    assert sampled.keys() == dense.keys()
    for key, value in dense.items():
        torch.testing.assert_close(sampled[key], value, rtol=1e-10, atol=1e-12, msg=key)
    dense["total"].backward()
    sampled["total"].backward()
    for (name, expected), got in zip(dense_model.named_parameters(), sampled_model.parameters()):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-8, atol=1e-12, msg=name)
    for (name, expected), got in zip(dense_model.named_buffers(), sampled_model.buffers()):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12, msg=name)
