"""Synthetic tampering of one image: splicing, copy-move or removal, then global post-processing.

The ground-truth mask is the changed region (for copy-move: the pasted target only, as in CASIA and
COVERAGE). Post-processing (resize, blur, noise, JPEG) runs on the whole image after tampering so that
compression or blur differences do not give the region away.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image
from scipy import ndimage

from dataloaders.synthetic.photos import PhotoPool, random_view
from dataloaders.synthetic.shapes import random_region
from dataloaders.transforms.perturb import gaussian_blur, gaussian_noise, jpeg_compress, rescale

KINDS = ("splice", "copymove", "removal")
KIND_WEIGHTS = (0.5, 0.3, 0.2)


@dataclass
class Tampered:
    """One generated sample: uint8 (S,S,3) image, bool (S,S) mask, and what was done."""

    image: np.ndarray
    mask: np.ndarray
    kind: str


def colour_match(patch: np.ndarray, host: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Shift ``patch``'s per-channel mean/std inside ``region`` to the host's there (Reinhard-style;
    the contrast gain is limited to 1/4..4 so flat patches are not blown up)."""
    src = patch[region].astype(np.float32)
    dst = host[region].astype(np.float32)
    scale = np.clip(dst.std(0) / np.maximum(src.std(0), 1.0), 0.25, 4.0)
    matched = (patch.astype(np.float32) - src.mean(0)) * scale + dst.mean(0)
    return np.clip(matched, 0, 255)


def splice(host: np.ndarray, region: np.ndarray, rng: np.random.Generator, pool: PhotoPool,
           host_index: int) -> np.ndarray:
    """Content for ``region`` from a different photo (from the same photo if the pool has one)."""
    others = [i for i in range(len(pool)) if i != host_index] or [host_index]
    donor = random_view(pool[int(rng.choice(others))], host.shape[0], rng)
    if rng.random() < 0.5:
        return colour_match(donor, host, region)
    return donor.astype(np.float32)


def copy_move(host: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Content for ``region`` from elsewhere in the same image, optionally rotated (±30°) and scaled
    (0.8–1.25); the source is displaced by at least a quarter of the image side."""
    size = host.shape[0]
    ys, xs = np.nonzero(region)
    target = np.array([xs.mean(), ys.mean()])
    shift = rng.uniform(0.25, 0.6) * size * _unit(rng)
    source = np.clip(target + shift, 0, size - 1)
    angle = np.deg2rad(rng.uniform(-30, 30)) if rng.random() < 0.5 else 0.0
    scale = rng.uniform(0.8, 1.25) if rng.random() < 0.5 else 1.0
    pad = size // 2
    padded = Image.fromarray(np.pad(host, ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    offset = source + pad - np.array([[cos, -sin], [sin, cos]]) @ target
    coeffs = (cos, -sin, offset[0], sin, cos, offset[1])
    moved = padded.transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    return np.asarray(moved, dtype=np.float32)


def _unit(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    return np.array([np.cos(angle), np.sin(angle)])


def region_box(region: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of ``region`` grown by ``margin`` pixels, clipped to the image."""
    ys, xs = np.nonzero(region)
    height, width = region.shape
    return (slice(max(0, ys.min() - margin), min(height, ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(width, xs.max() + margin + 1)))


def diffuse_fill(patch: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill ``hole`` in ``patch`` by normalised convolution at growing scales on an 8× downsampled grid
    (a diffusion-like inpainting), upsampled, plus noise at the surroundings' texture level."""
    height, width = hole.shape
    small = (max(4, width // 8), max(4, height // 8))
    known = ~ndimage.binary_dilation(hole, iterations=2)
    img_s = np.asarray(Image.fromarray(patch).resize(small, Image.BOX), dtype=np.float32)
    known_s = np.asarray(Image.fromarray(known.astype(np.uint8) * 255).resize(small)) > 127
    base = img_s * known_s[..., None]
    filled = base.copy()
    todo = ~known_s
    for sigma in (1.0, 3.0, 9.0):
        weight = ndimage.gaussian_filter(known_s.astype(np.float32), sigma)
        ready = todo & (weight > 0.02)
        blurred = ndimage.gaussian_filter(base, (sigma, sigma, 0))
        filled[ready] = blurred[ready] / weight[ready][:, None]
        todo &= ~ready
    filled[todo] = img_s[known_s].mean(0) if known_s.any() else 127.0
    up = Image.fromarray(np.clip(filled, 0, 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    texture = float(np.std(patch[known] if known.any() else patch)) * rng.uniform(0.03, 0.12)
    return np.asarray(up, dtype=np.float32) + texture * rng.standard_normal(patch.shape, dtype=np.float32)


def removal(host: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Content for ``region`` inpainted from its surroundings (a margin of 1/8 of the image around it)."""
    box = region_box(region, max(8, host.shape[0] // 8))
    content = host.astype(np.float32)
    content[box] = diffuse_fill(host[box], region[box], rng)
    return content


def blend(host: np.ndarray, content: np.ndarray, region: np.ndarray, feather: float = 0.0) -> np.ndarray:
    """Paste ``content`` into ``host`` over ``region``: a hard edge, or feathered by a Gaussian of std
    ``feather`` pixels (computed in the region's box only; nothing changes further than 3 std away)."""
    box = region_box(region, int(np.ceil(3 * feather)) + 1)
    alpha = region[box].astype(np.float32)
    if feather > 0:
        alpha = ndimage.gaussian_filter(alpha, feather, truncate=3.0)
    mixed = host[box].astype(np.float32) * (1 - alpha[..., None]) + content[box] * alpha[..., None]
    out = host.copy()
    out[box] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


def post_process(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Global degradations, each with its own chance: resize down/up, blur, noise, then JPEG."""
    if rng.random() < 0.3:
        image = rescale(image, rng.uniform(0.5, 0.9))
    if rng.random() < 0.2:
        image = gaussian_blur(image, int(rng.choice([3, 5])))
    if rng.random() < 0.3:
        image = gaussian_noise(image, rng.uniform(1.0, 6.0), rng)
    if rng.random() < 0.7:
        image = jpeg_compress(image, int(rng.integers(50, 96)))
    return np.asarray(image)


def generate(pool: PhotoPool, size: int, rng: np.random.Generator, authentic: bool = False) -> Tampered:
    """Make one sample of side ``size``: a random view of a random photo, tampered unless ``authentic``."""
    host_index = int(rng.integers(len(pool)))
    host = random_view(pool[host_index], size, rng)
    if authentic:
        return Tampered(post_process(host, rng), np.zeros((size, size), dtype=bool), "authentic")
    region, shape = random_region(rng, size)
    makers = {"splice": partial(splice, pool=pool, host_index=host_index), "copymove": copy_move,
              "removal": removal}
    kind = str(rng.choice(KINDS, p=KIND_WEIGHTS))
    content = makers[kind](host, region, rng)
    feather = rng.uniform(0.7, 2.5) if rng.random() < 0.5 else 0.0
    return Tampered(post_process(blend(host, content, region, feather), rng), region, f"{kind}-{shape}")
