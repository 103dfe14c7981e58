"""The synthetic tampering dataset (``--dataset synthetic``), generated on the fly from real photos.

Design (on-the-fly, never cached): sample ``k`` of a split is drawn with its own RNG seeded by
``(seed, split, k)``, so it is reproducible regardless of worker count and splits never share an image.
Validation and test use the fixed indices ``0..n-1``; training uses
:class:`dataloaders.samplers.EpochSampler`, which shifts the indices by ``epoch * n`` so every epoch sees new images (unlimited variety, still deterministic).

With ``--synthetic-source DIR`` the photos of ``DIR`` are split between train/val/test (no photo is
shared); the bundled photos are too few to split and are shared by all splits.

Materialise a set in the folder layout with a preview grid: ``python -m dataloaders.synthetic`` (see
:mod:`dataloaders.synthetic.__main__`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from dataloaders.synthetic.photos import PhotoPool
from dataloaders.synthetic.tamper import Tampered, generate
from dataloaders.transforms.joint import to_tensors

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
AUTHENTIC_FRACTION = 0.2  # share of authentic samples when authentic images are included


class SyntheticDataset(Dataset):
    """``length`` generated samples of side ``size`` from ``sources`` (see :mod:`.photos`)."""

    def __init__(self, sources: list[str], split: str, length: int, size: int, seed: int = 0,
                 include_authentic: bool = False) -> None:
        self.pool = PhotoPool(sources)
        self.split = split
        self.length = length
        self.size = size
        self.seed = seed
        self.include_authentic = include_authentic

    def __len__(self) -> int:
        return self.length

    def generate(self, index: int) -> Tampered:
        """The raw sample ``index`` (any index >= 0; the same index always gives the same sample)."""
        rng = np.random.default_rng([self.seed, SPLIT_CODES[self.split], index])
        authentic = self.include_authentic and rng.random() < AUTHENTIC_FRACTION
        return generate(self.pool, self.size, rng, authentic=authentic)

    def describe(self) -> list[str]:
        """Lines that pin this split down: generation parameters, then one source photo per line."""
        header = (f"# synthetic split={self.split} seed={self.seed} size={self.size} length={self.length} "
                  f"include_authentic={self.include_authentic} (train indices shift by epoch*length)")
        return [header] + list(self.pool.sources)

    def __getitem__(self, index: int) -> dict:
        sample = self.generate(index)
        image, mask = to_tensors(sample.image, sample.mask)
        return {"image": image, "mask": mask, "label": int(sample.mask.any()),
                "name": f"synthetic_{self.split}_{index:07d}_{sample.kind}",
                "size": torch.tensor([self.size, self.size])}
