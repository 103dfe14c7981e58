"""Source photographs for synthetic tampering: the ones bundled with scikit-image / scikit-learn
(available offline), or any folder of authentic photos (``--synthetic-source``).

A source is named by a string: ``"skimage:<name>"``, ``"sklearn:<file>"`` or a file path.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from dataloaders.io import read_image

# Licences are listed in README.md (Datasets): public domain, CC0 or "no known copyright
# restrictions" as the packages state; the two scikit-learn photos are CC BY 2.0.
BUNDLED_COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina",
                  "hubble_deep_field")
BUNDLED_GREY = ("camera", "brick", "grass", "gravel", "coins", "clock", "cell")
BUNDLED_SKLEARN = ("china.jpg", "flower.jpg")
BUNDLED_PREFIXES = ("skimage:", "sklearn:")
MAX_SIDE = 800  # bundled photos are stored at most this large (retina is 1411²)


def bundled_sources() -> list[str]:
    """Names of all bundled photos, in a fixed order."""
    names = [f"skimage:{n}" for n in BUNDLED_COLOUR + BUNDLED_GREY]
    return names + [f"sklearn:{n}" for n in BUNDLED_SKLEARN]


def _load_bundled(source: str) -> Image.Image:
    package, name = source.split(":", 1)
    if package == "skimage":
        from skimage import data

        pixels = getattr(data, name)()
    else:
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(name)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return _limit(Image.fromarray(pixels[..., :3].astype(np.uint8)), MAX_SIDE)


def _limit(img: Image.Image, max_side: int) -> Image.Image:
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    return img


class PhotoPool:
    """Indexable set of source photos as RGB PIL images. Bundled photos are loaded once, here (so
    DataLoader workers receive them with the dataset instead of importing scikit-image each epoch);
    folder photos are read on demand (a folder may hold thousands)."""

    def __init__(self, sources: list[str], max_side: int = MAX_SIDE) -> None:
        if not sources:
            raise ValueError("the synthetic generator needs at least one source photo")
        self.sources = list(sources)
        self.max_side = max_side
        self._bundled = {s: _load_bundled(s) for s in self.sources if s.startswith(BUNDLED_PREFIXES)}

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> Image.Image:
        source = self.sources[index]
        if source in self._bundled:
            return self._bundled[source]
        return _limit(read_image(source), self.max_side)


def random_view(photo: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random (size,size,3) uint8 view of ``photo``: crop 35–100 % of the short side with aspect
    jitter, resize, random flip, and per-channel gain/gamma so few photos give many looks."""
    width, height = photo.size
    side = rng.uniform(0.35, 1.0) * min(height, width)
    aspect = np.exp(rng.uniform(-0.25, 0.25))
    crop_h = min(height, max(8.0, side * aspect))
    crop_w = min(width, max(8.0, side / aspect))
    top = rng.uniform(0, height - crop_h)
    left = rng.uniform(0, width - crop_w)
    box = (left, top, left + crop_w, top + crop_h)
    view = photo.resize((size, size), Image.BILINEAR, box=box, reducing_gap=2.0)
    if rng.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    gain = rng.uniform(0.85, 1.15, size=3) * rng.uniform(0.8, 1.2)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.arange(256, dtype=np.float32) / 255.0
    lut = [255.0 * np.power(np.clip(levels * g, 0, 1), gamma) for g in gain]
    return np.asarray(view.point(np.rint(np.concatenate(lut)).astype(np.uint8).tolist()))
