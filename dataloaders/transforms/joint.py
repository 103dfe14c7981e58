"""Joint image/mask transforms: geometry is applied to both (mask with nearest neighbour, so it stays
binary and aligned); photometric changes touch the image only.

Every transform is a callable ``t(image, mask, rng) -> (image, mask)`` on a PIL RGB image and a bool
(H,W) mask; randomness comes only from ``rng`` so a sample is reproducible from its seed.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageEnhance

from dataloaders.transforms.normalize import normalize
from dataloaders.transforms.perturb import gaussian_blur, gaussian_noise, jpeg_compress

Pair = tuple[Image.Image, np.ndarray]
JointTransform = Callable[[Image.Image, np.ndarray, np.random.Generator], Pair]


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to (height, width) with nearest neighbour (stays binary)."""
    height, width = size
    pil = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize((width, height), Image.NEAREST)
    return np.asarray(pil) >= 128


class Compose:
    """Apply joint transforms in order."""

    def __init__(self, transforms: Sequence[JointTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        for transform in self.transforms:
            image, mask = transform(image, mask, rng)
        return image, mask


class Resize:
    """Resize to a fixed (height, width): image bilinear, mask nearest."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        height, width = self.size
        return image.resize((width, height), Image.BILINEAR), resize_mask(mask, self.size)


class RandomScaleCrop:
    """Scale so the short side is ``crop * s`` (s uniform in ``scale``), zero-pad if needed, random crop.

    Padding is black in the image and authentic (0) in the mask.
    """

    def __init__(self, crop: int, scale: tuple[float, float] = (0.5, 1.5)) -> None:
        self.crop = crop
        self.scale = scale

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        width, height = image.size
        factor = self.crop * rng.uniform(*self.scale) / min(width, height)
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        image, mask = Resize(size)(image, mask, rng)
        image, mask = _pad_to(image, mask, self.crop)
        top = int(rng.integers(0, mask.shape[0] - self.crop + 1))
        left = int(rng.integers(0, mask.shape[1] - self.crop + 1))
        box = (left, top, left + self.crop, top + self.crop)
        return image.crop(box), mask[top : top + self.crop, left : left + self.crop]


def _pad_to(image: Image.Image, mask: np.ndarray, size: int) -> Pair:
    """Zero-pad image and mask at the bottom/right up to at least ``size`` on each side."""
    width, height = image.size
    if width >= size and height >= size:
        return image, mask
    new_w, new_h = max(width, size), max(height, size)
    canvas = Image.new("RGB", (new_w, new_h))
    canvas.paste(image, (0, 0))
    padded = np.zeros((new_h, new_w), dtype=bool)
    padded[:height, :width] = mask
    return canvas, padded


class RandomHorizontalFlip:
    """Mirror image and mask left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        if rng.random() < self.p:
            return image.transpose(Image.FLIP_LEFT_RIGHT), mask[:, ::-1].copy()
        return image, mask


class ColorJitter:
    """Random brightness, contrast and saturation factors in ``[1 - strength, 1 + strength]`` (image only)."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            image = enhancer(image).enhance(rng.uniform(1 - self.strength, 1 + self.strength))
        return image, mask


class RandomDegrade:
    """With probability ``p`` apply one of JPEG (quality 60–95), blur (3 or 5) or noise (sigma 1–5)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Pair:
        if rng.random() >= self.p:
            return image, mask
        choice = int(rng.integers(3))
        if choice == 0:
            return jpeg_compress(image, int(rng.integers(60, 96))), mask
        if choice == 1:
            return gaussian_blur(image, int(rng.choice([3, 5]))), mask
        return gaussian_noise(image, float(rng.uniform(1, 5)), rng), mask


def to_tensors(image: Image.Image | np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Image → normalised float (3,H,W); mask → float {0,1} (1,H,W)."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)
    tensor = normalize(pixels.float().div_(255.0))
    return tensor, torch.from_numpy(np.ascontiguousarray(mask)).float().unsqueeze(0)
