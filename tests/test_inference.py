"""evaluation.inference: tiling covers every pixel, blended tiles equal a whole-image pass for a pointwise
model, resizing returns maps at the image's own size, and flip test-time augmentation is the mean of the two
views computed by hand."""
from __future__ import annotations

import pytest
import torch

from evaluation.inference import predict_batch, predict_tiled, tile_starts


class PointwiseModel(torch.nn.Module):
    """A 1x1-conv "network": its output at a pixel depends on that pixel only, so tiling is exact."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        torch.nn.init.normal_(self.conv.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mask": self.conv(x)}


class CountingModel(PointwiseModel):
    """Records the largest input it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.largest = max(self.largest, x.shape[-1] * x.shape[-2] * x.shape[0])
        return super().forward(x)


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (64, 64, 16), (65, 64, 16), (30, 64, 16)])
def test_tiles_cover_the_image_with_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        covered[s:s + size] = True
    assert covered.all() and starts[-1] + size == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_tiled_equals_whole_image_for_pointwise_model():
    model = PointwiseModel().eval()
    image = torch.randn(2, 3, 90, 150)
    whole = predict_batch(model, image, tile=1024)
    tiled = predict_batch(model, image, tile=40, overlap=12)
    assert tiled.shape == (2, 1, 90, 150)
    assert torch.allclose(whole, tiled, atol=1e-6)


def test_tiling_bounds_the_network_input():
    model = CountingModel().eval()
    predict_tiled(model, torch.randn(3, 200, 300), tile=64, overlap=16, tiles_per_batch=2)
    assert model.largest <= 2 * 64 * 64


def test_resize_runs_at_model_size_and_returns_image_size():
    model = CountingModel().eval()
    image = torch.randn(1, 3, 70, 50)
    prob = predict_batch(model, image, resize=32)
    assert model.largest == 32 * 32 and prob.shape == (1, 1, 70, 50)
    assert 0 <= float(prob.min()) and float(prob.max()) <= 1


def test_constant_image_gives_constant_map_after_resize():
    model = PointwiseModel().eval()
    image = torch.ones(1, 3, 37, 53) * 0.3
    prob = predict_batch(model, image, resize=16)
    assert torch.allclose(prob, prob.flatten()[0].expand_as(prob), atol=1e-6)


class ColumnRampModel(torch.nn.Module):
    """Logit = 0.1 * (column index) + the first channel: not mirror-symmetric, so a flip changes its map."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        ramp = 0.1 * torch.arange(x.shape[-1], dtype=x.dtype)
        return {"mask": x[:, :1] + ramp}


def test_hflip_is_the_mean_of_the_map_and_the_mirrored_back_map_of_the_mirror():
    image = torch.randn(2, 3, 5, 7)
    prob = predict_batch(ColumnRampModel(), image, tta="hflip")
    ramp = 0.1 * torch.arange(7.0)
    expected = (torch.sigmoid(image[:, :1] + ramp) + torch.sigmoid(image[:, :1] + ramp.flip(0))) / 2
    assert torch.allclose(prob, expected, atol=1e-6)
    assert not torch.allclose(prob, predict_batch(ColumnRampModel(), image), atol=1e-3)


class GridRampModel(torch.nn.Module):
    """Logit = the first channel + 0.1 * column + 0.2 * row: mirroring either axis changes its map."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        height, width = x.shape[-2:]
        ramp = 0.2 * torch.arange(height, dtype=x.dtype)[:, None] + 0.1 * torch.arange(width, dtype=x.dtype)
        return {"mask": x[:, :1] + ramp}


def test_flips_is_the_mean_over_both_mirrors_and_the_double_mirror():
    image = torch.randn(2, 3, 4, 6)
    prob = predict_batch(GridRampModel(), image, tta="flips")
    rows, columns = 0.2 * torch.arange(4.0)[:, None], 0.1 * torch.arange(6.0)
    views = [rows + columns, rows + columns.flip(0), rows.flip(0) + columns, rows.flip(0) + columns.flip(0)]
    expected = sum(torch.sigmoid(image[:, :1] + ramp) for ramp in views) / 4
    assert torch.allclose(prob, expected, atol=1e-6)
    assert not torch.allclose(prob, predict_batch(GridRampModel(), image, tta="hflip"), atol=1e-3)


@pytest.mark.parametrize("tta", ["hflip", "flips"])
@pytest.mark.parametrize("settings", [{}, {"resize": 16}, {"tile": 40, "overlap": 12}])
def test_flip_tta_changes_nothing_for_a_mirror_symmetric_model(settings, tta):
    model = PointwiseModel().eval()
    image = torch.randn(1, 3, 45, 70)
    plain = predict_batch(model, image, **settings)
    flipped = predict_batch(model, image, tta=tta, **settings)
    assert flipped.shape == (1, 1, 45, 70)
    assert torch.allclose(plain, flipped, atol=1e-6)


def test_an_unknown_tta_mode_is_refused():
    with pytest.raises(ValueError, match="tta must be one of"):
        predict_batch(PointwiseModel(), torch.randn(1, 3, 8, 8), tta="vflip")
