"""Image-only degradations, one implementation shared by augmentation, the synthetic generator and
``test.py --robust``.

Each function takes a PIL image or a uint8 (H,W[,3]) array and returns the same kind. None of them
changes the image size, so a mask stays aligned: :func:`rescale` resizes down and back up.
"""
from __future__ import annotations

import io
from typing import Union

import numpy as np
from PIL import Image, ImageFilter

ImageLike = Union[Image.Image, np.ndarray]


def _to_pil(img: ImageLike) -> tuple[Image.Image, bool]:
    """Return ``img`` as PIL and whether the caller passed an array."""
    if isinstance(img, Image.Image):
        return img, False
    return Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)), True


def _back(img: Image.Image, was_array: bool) -> ImageLike:
    return np.asarray(img) if was_array else img


def jpeg_compress(img: ImageLike, quality: int) -> ImageLike:
    """Encode and decode as JPEG at ``quality`` (1–100, 4:2:0 chroma as most cameras and editors)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    pil, was_array = _to_pil(img)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = decoded.convert(pil.mode)
    return _back(out, was_array)


def gaussian_blur(img: ImageLike, kernel_size: int) -> ImageLike:
    """Gaussian blur with an odd ``kernel_size``; sigma = kernel_size / 6 so the kernel spans ±3 sigma."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"blur kernel size must be odd and >= 1, got {kernel_size}")
    pil, was_array = _to_pil(img)
    if kernel_size == 1:
        return _back(pil.copy(), was_array)
    return _back(pil.filter(ImageFilter.GaussianBlur(radius=kernel_size / 6.0)), was_array)


def gaussian_noise(img: ImageLike, sigma: float, rng: np.random.Generator) -> ImageLike:
    """Add zero-mean Gaussian noise of std ``sigma`` (in 0..255 units), clipped to uint8."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    pil, was_array = _to_pil(img)
    pixels = np.asarray(pil, dtype=np.float32)
    noisy = pixels + sigma * rng.standard_normal(pixels.shape, dtype=np.float32)
    out = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode=pil.mode)
    return _back(out, was_array)


def rescale(img: ImageLike, scale: float) -> ImageLike:
    """Resize by ``scale`` (bilinear, 0 < scale) and back to the original size, losing detail.

    Down-and-back keeps the size, so masks and metrics need no change in a robustness sweep.
    """
    if scale <= 0:
        raise ValueError(f"rescale factor must be > 0, got {scale}")
    pil, was_array = _to_pil(img)
    width, height = pil.size
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    out = pil.resize(small, Image.BILINEAR).resize((width, height), Image.BILINEAR)
    return _back(out, was_array)
