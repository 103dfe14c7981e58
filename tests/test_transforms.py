"""Joint transforms keep masks binary and aligned; perturbations keep size and do what they say."""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from dataloaders import DataConfig, add_data_args
from dataloaders.transforms.joint import (RandomHorizontalFlip, RandomScaleCrop, Resize, resize_mask,
                                          to_tensors)
from dataloaders.transforms.normalize import IMAGENET_MEAN, IMAGENET_STD
from dataloaders.transforms.perturb import gaussian_blur, gaussian_noise, jpeg_compress, rescale
from dataloaders.transforms.presets import eval_transform, train_transform


def _blocks(h: int = 48, w: int = 64) -> tuple[Image.Image, np.ndarray]:
    """An image whose red channel encodes the mask (255 inside, 0 outside), in big blocks."""
    mask = np.zeros((h, w), bool)
    mask[8:30, 10:40] = True
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[..., 0] = mask * 255
    pixels[..., 1] = 90
    return Image.fromarray(pixels), mask


def _agreement(image: Image.Image, mask: np.ndarray) -> float:
    return float(((np.asarray(image)[..., 0] >= 128) == mask).mean())


@pytest.mark.parametrize("seed", range(4))
def test_random_scale_crop_keeps_mask_binary_and_aligned(seed):
    image, mask = _blocks()
    out_img, out_mask = RandomScaleCrop(32, (0.5, 1.5))(image, mask, np.random.default_rng(seed))
    assert out_img.size == (32, 32) and out_mask.shape == (32, 32) and out_mask.dtype == bool
    assert _agreement(out_img, out_mask) > 0.97  # only resampled edge pixels may disagree


def test_flip_is_exactly_aligned():
    image, mask = _blocks()
    out_img, out_mask = RandomHorizontalFlip(p=1.0)(image, mask, np.random.default_rng(0))
    assert np.array_equal(out_mask, mask[:, ::-1])
    assert _agreement(out_img, out_mask) == 1.0


def test_resize_mask_nearest_matches_pil_nearest():
    rng = np.random.default_rng(1)
    mask = rng.random((13, 17)) > 0.5
    reference = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((9, 7), Image.NEAREST)) > 0
    assert np.array_equal(resize_mask(mask, (7, 9)), reference)
    _, resized = Resize((7, 9))(Image.fromarray(np.zeros((13, 17, 3), np.uint8)), mask, rng)
    assert np.array_equal(resized, reference)


def test_to_tensors_normalises_with_the_shared_constants():
    pixels = np.full((2, 3, 3), 255, np.uint8)
    image, mask = to_tensors(pixels, np.ones((2, 3), bool))
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(image[:, 0, 0], torch.tensor(expected))
    assert mask.shape == (1, 2, 3) and mask.dtype == torch.float32 and mask.unique().tolist() == [1.0]


def test_presets_from_flags():
    flags = add_data_args(argparse.ArgumentParser()).parse_args(["--crop-size", "32", "--base-size", "40",
                                                                 "--degrade-prob", "1"])
    config = DataConfig.from_flags(vars(flags))
    image, mask = _blocks()
    train = train_transform(config.transforms, config.crop_size)
    out_img, out_mask = train(image, mask, np.random.default_rng(0))
    assert out_img.size == (32, 32) and out_mask.shape == (32, 32)
    out_img, out_mask = eval_transform(config.transforms)(image, mask, np.random.default_rng(0))
    assert out_img.size == (40, 40) and _agreement(out_img, out_mask) > 0.97
    original = replace(config.transforms, base_size=0)
    assert eval_transform(original)(image, mask, np.random.default_rng(0))[0].size == image.size


def _texture() -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, (32, 40, 3), dtype=np.uint8)


def test_jpeg_changes_pixels_less_at_higher_quality():
    pixels = _texture()
    low = np.abs(jpeg_compress(pixels, 20).astype(int) - pixels).mean()
    high = np.abs(jpeg_compress(pixels, 95).astype(int) - pixels).mean()
    assert jpeg_compress(pixels, 50).shape == pixels.shape and 0 < high < low
    assert isinstance(jpeg_compress(Image.fromarray(pixels), 50), Image.Image)
    with pytest.raises(ValueError):
        jpeg_compress(pixels, 0)


def test_gaussian_blur_close_to_scipy_reference():
    pixels = _texture()
    ours = gaussian_blur(pixels, 7).astype(float)
    reference = ndimage.gaussian_filter(pixels.astype(float), sigma=(7 / 6, 7 / 6, 0), mode="nearest")
    assert np.abs(ours - reference)[4:-4, 4:-4].mean() < 4.0  # PIL approximates the Gaussian
    assert ours.std() < pixels.std()
    assert np.array_equal(gaussian_blur(pixels, 1), pixels)
    with pytest.raises(ValueError):
        gaussian_blur(pixels, 4)


def test_gaussian_noise_has_requested_std():
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = gaussian_noise(flat, 5.0, np.random.default_rng(0)).astype(float)
    assert abs((noisy - 128).std() - 5.0) < 0.2 and abs((noisy - 128).mean()) < 0.1


def test_rescale_keeps_size_and_loses_detail():
    pixels = _texture()
    out = rescale(pixels, 0.5)
    assert out.shape == pixels.shape
    def detail(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a.astype(int), axis=1)).mean())

    assert detail(out) < detail(pixels)
    flat = np.full((16, 16, 3), 77, np.uint8)
    assert np.array_equal(rescale(flat, 0.3), flat)
