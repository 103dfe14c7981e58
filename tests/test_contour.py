"""utils/contour.py against scipy.ndimage morphology (an independent reference)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from utils.contour import contour_band


def reference_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Dilation minus erosion with a (2w+1)² square; outside the image is authentic for the dilation
    and does not erode (border_value=1), so the image border itself is never a boundary."""
    if width == 0:
        return np.zeros_like(mask, dtype=bool)
    square = np.ones((2 * width + 1, 2 * width + 1), dtype=bool)
    dilated = ndimage.binary_dilation(mask, square, border_value=0)
    eroded = ndimage.binary_erosion(mask, square, border_value=1)
    return dilated & ~eroded


@pytest.mark.parametrize("seed", range(6))
def test_random_masks_odd_sizes_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(1, 24, size=2))
        half_width = int(rng.integers(0, 4))
        mask = rng.random((height, width)) < rng.random()
        band = contour_band(torch.from_numpy(mask).float(), half_width).numpy()
        np.testing.assert_array_equal(band > 0, reference_band(mask, half_width))


def test_blob_touching_border_matches_scipy() -> None:
    mask = np.zeros((17, 23), dtype=bool)
    mask[:9, 14:] = True  # touches the top and right borders
    mask[12:, :5] = True  # touches the bottom and left borders
    band = contour_band(torch.from_numpy(mask)[None, None].float(), 2)[0, 0].numpy() > 0
    np.testing.assert_array_equal(band, reference_band(mask, 2))
    assert not band[0, 22], "a corner inside the tampered region is not a boundary"
    assert band[0, 14] and band[8, 22], "the region's inner edges are"


def test_batch_and_dtypes() -> None:
    rng = np.random.default_rng(7)
    masks = rng.random((3, 1, 19, 21)) < 0.4
    expected = np.stack([reference_band(m[0], 1) for m in masks])[:, None]
    for tensor in (torch.from_numpy(masks), torch.from_numpy(masks).to(torch.uint8)):
        band = contour_band(tensor, 1)
        assert band.shape == tensor.shape and band.dtype == torch.float32
        np.testing.assert_array_equal(band.numpy() > 0, expected)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_uniform_masks_have_no_band(value: float) -> None:
    assert contour_band(torch.full((2, 1, 9, 9), value), 2).sum() == 0


def test_band_width_on_a_straight_edge() -> None:
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., :6] = 1
    band = contour_band(mask, 2)[0, 0]
    assert band[0].nonzero().squeeze(1).tolist() == [4, 5, 6, 7], "2w columns straddle the edge"


def test_negative_width_is_rejected() -> None:
    with pytest.raises(ValueError):
        contour_band(torch.zeros(4, 4), -1)
