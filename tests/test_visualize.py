"""evaluation.visualize: overlay colours, prediction files round-trip, TensorBoard grid layout."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from dataloaders.transforms.normalize import normalize
from evaluation.visualize import CONTOUR, image_grid, overlay, read_prob_png, save_prediction


def square_mask(size: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[8:24, 8:24] = True
    return mask


def test_overlay_tints_inside_draws_edge_and_keeps_outside():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    out = overlay(image, square_mask(), alpha=0.5, contour_width=2)
    assert (out[0, 0] == 100).all() and (out[30, 30] == 100).all()
    assert tuple(out[8, 16]) == CONTOUR and tuple(out[9, 16]) == CONTOUR  # inner edge band
    assert out[16, 16, 0] > 100 and out[16, 16, 1] < 100  # tinted red, not contour
    assert tuple(out[16, 16]) != CONTOUR


def test_save_prediction_round_trips_the_probability(tmp_path):
    prob = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    save_prediction(prob, image, 0.5, tmp_path, "sub/img", contour_width=2)
    assert np.abs(read_prob_png(tmp_path / "sub/img_prob.png") - prob).max() <= 0.5 / 65535 + 1e-7
    mask = np.asarray(Image.open(tmp_path / "sub/img_mask.png"))
    assert ((mask == 255) == (prob >= 0.5)).all()
    assert Image.open(tmp_path / "sub/img_overlay.png").size == (30, 20)


def test_image_grid_layout():
    images = normalize(torch.rand(2, 3, 16, 16))
    masks = torch.zeros(2, 1, 16, 16)
    masks[:, :, 4:12, 4:12] = 1
    contour_probs = torch.rand(2, 1, 16, 16)
    grid = image_grid(images, masks, probs=masks * 0.9, contour_probs=contour_probs)
    assert grid.shape == (3, 32, 64)
    assert torch.equal(grid[:, :16, 16:32], masks[0].expand(3, -1, -1))  # GT column
    assert torch.equal(grid[:, 16:, 32:48], masks[1].expand(3, -1, -1))  # predicted mask column
    assert torch.equal(grid[:, 16:, 48:], contour_probs[1].expand(3, -1, -1))  # the contour head's column


def test_overlay_outline_takes_the_callers_width():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    outlined = [(overlay(image, square_mask(), contour_width=w) == CONTOUR).all(-1).sum() for w in (1, 3)]
    assert outlined[0] < outlined[1]
