"""Materialise synthetic samples in the folder layout (``Tp/``, ``Gt/``, ``Au/``) with a preview grid
(image | mask | contour band)::

    python -m dataloaders.synthetic --out DIR --n N [--size 256] [--seed 0] [--split train] [--tile 160]

The written folder is a ``--dataset folder`` dataset.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataloaders.synthetic import SPLIT_CODES, SyntheticDataset
from dataloaders.synthetic.photos import bundled_sources
from dataloaders.synthetic.tamper import Tampered
from utils.contour import CONTOUR_WIDTH, contour_band
from utils.errors import run_cli


def preview_grid(samples: list[Tampered], path: Path, tile: int = 160) -> None:
    """Save rows of image | mask | contour band (the band from :func:`utils.contour.contour_band`)."""
    grid = Image.new("RGB", (3 * tile, len(samples) * tile))
    for row, sample in enumerate(samples):
        band = contour_band(torch.from_numpy(sample.mask).float(), CONTOUR_WIDTH).numpy() > 0
        tiles = [sample.image, np.repeat(sample.mask[..., None] * 255, 3, 2),
                 np.repeat(band[..., None] * 255, 3, 2)]
        for col, pixels in enumerate(tiles):
            img = Image.fromarray(pixels.astype(np.uint8)).resize((tile, tile), Image.BILINEAR)
            grid.paste(img, (col * tile, row * tile))
    grid.save(path)


def materialise(dataset: SyntheticDataset, out: Path, count: int, preview_rows: int = 8,
                tile: int = 160) -> None:
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
    preview_grid(shown, out / "preview.png", tile)


def main() -> None:
    """CLI: materialise a synthetic set in the folder layout with a preview grid."""
    parser = argparse.ArgumentParser(description="Materialise synthetic tampered images with a preview grid.")
    parser.add_argument("--out", type=Path, required=True, help="output folder (Tp/, Gt/, Au/, preview.png)")
    parser.add_argument("--n", type=int, default=64, help="number of images")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=sorted(SPLIT_CODES), default="train")
    parser.add_argument("--include-authentic", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--preview-rows", type=int, default=8, help="samples shown in preview.png")
    parser.add_argument("--tile", type=int, default=160, help="preview tile side in pixels")
    args = parser.parse_args()
    dataset = SyntheticDataset(bundled_sources(), args.split, args.n, args.size, args.seed,
                               args.include_authentic)
    materialise(dataset, args.out, args.n, args.preview_rows, args.tile)
    print(f"wrote {args.n} images to {args.out} (preview: {args.out / 'preview.png'})")


if __name__ == "__main__":
    run_cli(main)
