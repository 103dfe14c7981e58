"""The synthetic tampering dataset (``--dataset synthetic``), generated on the fly from real photos.

Design (on-the-fly, never cached): sample ``k`` of a split is drawn with its own RNG seeded by
``(seed, split, k)``, so it is reproducible regardless of worker count and splits never share an image.
Validation and test use the fixed indices ``0..n-1``; training uses :class:`EpochSampler`, which shifts
the indices by ``epoch * n`` so every epoch sees new images (unlimited variety, still deterministic).

With ``--synthetic-source DIR`` the photos of ``DIR`` are split between train/val/test (no photo is
shared); the bundled photos are too few to split and are shared by all splits.

Materialise a set in the folder layout with a preview grid::

    python -m dataloaders.synthetic --out DIR --n N [--size 256] [--seed 0] [--split train]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from dataloaders.synthesis.photos import PhotoPool
from dataloaders.synthesis.tamper import Tampered, generate
from dataloaders.transforms.joint import to_tensors

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
AUTHENTIC_FRACTION = 0.2  # share of authentic samples when authentic images are included


class SyntheticDataset(Dataset):
    """``length`` generated samples of side ``size`` from ``sources`` (see :mod:`.synthesis.photos`)."""

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


class EpochSampler(Sampler[int]):
    """Indices ``epoch*n + i`` (i in this rank's shard of 0..n-1): fresh samples every epoch.

    The epoch advances by itself after each pass; ``set_epoch`` (as DistributedSampler) overrides it,
    e.g. when resuming.
    """

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.length = length
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select which epoch's samples the next pass yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * self.length
        self.epoch += 1
        return iter([offset + i for i in range(self.rank, self.length, self.num_replicas)])


def preview_grid(samples: list[Tampered], path: Path, tile: int = 160) -> None:
    """Save rows of image | mask | contour band (the band from :func:`utils.contour.contour_band`)."""
    from utils.contour import contour_band

    grid = Image.new("RGB", (3 * tile, len(samples) * tile))
    for row, sample in enumerate(samples):
        band = contour_band(torch.from_numpy(sample.mask).float(), width=2).numpy() > 0
        tiles = [sample.image, np.repeat(sample.mask[..., None] * 255, 3, 2),
                 np.repeat(band[..., None] * 255, 3, 2)]
        for col, pixels in enumerate(tiles):
            img = Image.fromarray(pixels.astype(np.uint8)).resize((tile, tile), Image.BILINEAR)
            grid.paste(img, (col * tile, row * tile))
    grid.save(path)


def materialise(dataset: SyntheticDataset, out: Path, count: int, preview_rows: int = 8) -> None:
    """Write ``count`` samples as ``out/Tp`` + ``out/Gt`` (+ ``out/Au``) PNGs and ``out/preview.png``."""
    for folder in ("Tp", "Gt", "Au"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    shown = []
    for index in range(count):
        sample = dataset.generate(index)
        stem = f"{dataset.split}_{index:06d}_{sample.kind}"
        if sample.mask.any():
            Image.fromarray(sample.image).save(out / "Tp" / f"{stem}.png")
            Image.fromarray(sample.mask.astype(np.uint8) * 255).save(out / "Gt" / f"{stem}_gt.png")
        else:
            Image.fromarray(sample.image).save(out / "Au" / f"{stem}.png")
        if len(shown) < preview_rows:
            shown.append(sample)
    preview_grid(shown, out / "preview.png")


def main() -> None:
    """CLI: materialise a synthetic set in the folder layout with a preview grid."""
    from dataloaders.synthesis.photos import bundled_sources

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (Tp/, Gt/, Au/, preview.png)")
    parser.add_argument("--n", type=int, default=64, help="number of images")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=sorted(SPLIT_CODES), default="train")
    parser.add_argument("--include-authentic", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--preview-rows", type=int, default=8)
    args = parser.parse_args()
    dataset = SyntheticDataset(bundled_sources(), args.split, args.n, args.size, args.seed,
                               args.include_authentic)
    materialise(dataset, args.out, args.n, args.preview_rows)
    print(f"wrote {args.n} images to {args.out} (preview: {args.out / 'preview.png'})")


if __name__ == "__main__":
    from utils.errors import run_cli

    run_cli(main)
