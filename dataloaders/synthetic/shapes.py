"""Random tampering regions: polygons, ellipses, free-form strokes and smooth blobs.

Each maker draws one bool (size,size) mask whose area is close to a requested fraction of the image;
:func:`random_region` retries until the area lies in ``AREA_RANGE``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

AREA_RANGE = (0.01, 0.30)
ShapeMaker = Callable[[np.random.Generator, int, float], np.ndarray]


def _canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (size, size), 0)
    return img, ImageDraw.Draw(img)


def _centre(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    margin = min(radius, size / 2)
    return rng.uniform(margin, size - margin, size=2)


def polygon(rng: np.random.Generator, size: int, area: float) -> np.ndarray:
    """A star-shaped polygon with 3–12 vertices at random angles and radii."""
    count = int(rng.integers(3, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(0.5, 1.0, count)
    mean_area = 0.5 * np.mean(radii**2) * 2 * np.pi * 0.8
    scale = np.sqrt(area * size * size / mean_area)
    centre = _centre(rng, size, scale * 0.7)
    points = centre + scale * radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
    img, draw = _canvas(size)
    draw.polygon([tuple(p) for p in points], fill=255)
    return np.asarray(img) > 0


def ellipse(rng: np.random.Generator, size: int, area: float) -> np.ndarray:
    """A rotated ellipse with axis ratio up to 3."""
    ratio = rng.uniform(1.0, 3.0)
    minor = np.sqrt(area * size * size / (np.pi * ratio))
    major = minor * ratio
    theta = rng.uniform(0, np.pi)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    local = np.stack([major * np.cos(t), minor * np.sin(t)], 1)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    points = _centre(rng, size, major * 0.8) + local @ rotation.T
    img, draw = _canvas(size)
    draw.polygon([tuple(p) for p in points], fill=255)
    return np.asarray(img) > 0


def stroke(rng: np.random.Generator, size: int, area: float) -> np.ndarray:
    """A thick free-form brush stroke: a smooth random walk drawn with round joints."""
    width = max(3, int(rng.uniform(0.03, 0.10) * size))
    length = area * size * size / width
    steps = int(rng.integers(4, 10))
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.6, steps))
    moves = (length / steps) * np.stack([np.cos(heading), np.sin(heading)], 1)
    points = np.cumsum(np.vstack([[0, 0], moves]), 0)
    points += _centre(rng, size, 0) - points.mean(0)
    img, draw = _canvas(size)
    draw.line([tuple(p) for p in points], fill=255, width=width, joint="curve")
    for x, y in points[[0, -1]]:
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(img) > 0


def blob(rng: np.random.Generator, size: int, area: float) -> np.ndarray:
    """A smooth organic blob: low-resolution noise, upsampled and thresholded at the area quantile,
    windowed by a Gaussian so it is one compact object."""
    grid = int(rng.integers(4, 9))
    noise = Image.fromarray(rng.uniform(0, 1, (grid, grid)).astype(np.float32), "F")
    field = np.asarray(noise.resize((size, size), Image.BICUBIC))
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.25, 0.75, 2)
    spread = np.sqrt(area) * 0.8
    field = field + 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * spread**2))
    return field > np.quantile(field, 1.0 - area)


SHAPES: dict[str, ShapeMaker] = {"polygon": polygon, "ellipse": ellipse, "stroke": stroke, "blob": blob}


def random_region(rng: np.random.Generator, size: int, tries: int = 8) -> tuple[np.ndarray, str]:
    """A region of a random kind covering 1–30 % of a (size,size) image (area log-uniform)."""
    low, high = AREA_RANGE
    for _ in range(tries):
        kind = str(rng.choice(list(SHAPES)))
        area = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        mask = SHAPES[kind](rng, size, area)
        if low <= mask.mean() <= high:
            return mask, kind
    return blob(rng, size, float(np.clip(area, low, high))), "blob"
