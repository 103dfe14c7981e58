"""``--robust`` perturbation lists: ``jpeg:50,70,90 blur:3,5 noise:3,7 resize:0.5,0.75`` becomes a list
of (name, level, fn) entries whose ``fn(image)`` degrades a PIL image without changing its size.

The degradations themselves live in :mod:`dataloaders.transforms.perturb` (one implementation shared
with augmentation); this module only parses the list and binds the levels.
"""
from __future__ import annotations

import zlib
from functools import partial
from typing import Callable, NamedTuple, Sequence

import numpy as np
from PIL import Image

from dataloaders.transforms.perturb import gaussian_blur, gaussian_noise, jpeg_compress, rescale
from utils.errors import UserError
from utils.registry import Registry


class Perturbation(NamedTuple):
    """One row of the robustness table: ``fn`` applies ``name`` at ``level`` to a PIL image."""

    name: str
    level: float
    fn: Callable[[Image.Image], Image.Image]

    @property
    def label(self) -> str:
        return f"{self.name}:{self.level:g}"


PERTURBATIONS: Registry[Callable[[float], Callable[[Image.Image], Image.Image]]] = Registry("perturbation")


@PERTURBATIONS.register("jpeg")
def _jpeg(level: float) -> Callable[[Image.Image], Image.Image]:
    return partial(jpeg_compress, quality=int(level))


@PERTURBATIONS.register("blur")
def _blur(level: float) -> Callable[[Image.Image], Image.Image]:
    return partial(gaussian_blur, kernel_size=int(level))


@PERTURBATIONS.register("resize")
def _resize(level: float) -> Callable[[Image.Image], Image.Image]:
    return partial(rescale, scale=level)


@PERTURBATIONS.register("noise")
def _noise(level: float) -> Callable[[Image.Image], Image.Image]:
    """Noise seeded from the image's pixels, so a sweep is reproducible and independent of image order."""

    def apply(image: Image.Image) -> Image.Image:
        seed = zlib.crc32(image.tobytes()[:65536]) ^ int(level * 1000)
        return gaussian_noise(image, level, np.random.default_rng(seed))

    return apply


def _parse_item(item: str) -> list[Perturbation]:
    name, sep, levels = item.partition(":")
    if not sep or not levels:
        raise UserError(f"--robust '{item}': expected NAME:LEVEL[,LEVEL...], e.g. jpeg:50,70")
    builder = PERTURBATIONS.get(name)
    result = []
    for text in levels.split(","):
        try:
            level = float(text)
            fn = builder(level)
            fn(Image.new("RGB", (8, 8)))  # validate the level now, not after an hour of evaluation
        except ValueError as error:
            raise UserError(f"--robust '{item}': bad level '{text}' ({error})") from None
        result.append(Perturbation(name, level, fn))
    return result


def parse_perturbations(spec: str | Sequence[str]) -> list[Perturbation]:
    """Parse ``"jpeg:50,70 blur:3"`` (or its whitespace-split list) into perturbations, in order."""
    items = spec.split() if isinstance(spec, str) else [s for part in spec for s in part.split()]
    return [p for item in items for p in _parse_item(item)]
