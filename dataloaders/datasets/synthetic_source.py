"""``synthetic``: lists the source photos (``--synthetic-source DIR`` or the bundled ones) and builds
the generating dataset of :mod:`dataloaders.synthetic` for a split."""
from __future__ import annotations

import argparse
from pathlib import Path

from dataloaders.datasets.common import list_images
from dataloaders.datasets.registry import DATASETS, GENERATORS
from dataloaders.records import Record
from dataloaders.splits import split_records
from dataloaders.synthetic.photos import bundled_sources
from dataloaders.synthetic import SyntheticDataset
from utils.errors import DataError

@DATASETS.register("synthetic")
def list_sources(root: str, args: argparse.Namespace | None = None) -> list[Record]:
    """Source photos as authentic records: every image in ``--synthetic-source`` (recursively), else the
    bundled photos (names like ``skimage:astronaut``)."""
    source = getattr(args, "synthetic_source", None)
    if not source:
        return [Record(name, None) for name in bundled_sources()]
    folders = [Path(source)] + sorted(p for p in Path(source).rglob("*") if p.is_dir())
    photos = [Record(str(p), None) for folder in folders for p in list_images(folder)]
    if not photos:
        raise DataError(f"{source}: no images found for --synthetic-source")
    return photos


def split_length(args: argparse.Namespace, split: str) -> int:
    """Images per pass: ``--synthetic-size`` for train; that size times the split's fraction (at least
    one batch) for val/test."""
    if split == "train":
        return args.synthetic_size
    fraction = args.val_fraction if split == "val" else args.test_fraction
    return max(args.test_batch_size or args.batch_size, round(args.synthetic_size * fraction))


@GENERATORS.register("synthetic")
def build_synthetic(args: argparse.Namespace, split: str, records: list[Record],
                    include_authentic: bool, length: int | None = None) -> SyntheticDataset:
    """The split's generator (``length`` samples, default :func:`split_length`); with a source folder
    each split gets its own photos."""
    if getattr(args, "synthetic_source", None):
        records = split_records(records, split, args.split_seed, args.val_fraction, args.test_fraction)
        if not records:
            raise DataError(f"{args.synthetic_source}: too few photos to give the {split} split any")
    return SyntheticDataset([r.image for r in records], split, length or split_length(args, split),
                            args.crop_size, args.split_seed, include_authentic)
