"""``synthetic``: lists the source photos (``synthetic_source`` or the bundled ones) and builds the
generating dataset of :mod:`dataloaders.synthetic` for a split."""
from __future__ import annotations

from pathlib import Path

from dataloaders.config import DataConfig
from dataloaders.datasets.common import list_images
from dataloaders.datasets.registry import DATASETS, GENERATORS
from dataloaders.records import Record
from dataloaders.splits import split_records
from dataloaders.synthetic.photos import bundled_sources
from dataloaders.synthetic import SyntheticDataset
from utils.errors import DataError


@DATASETS.register("synthetic")
def list_sources(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """Source photos as authentic records: every image in ``synthetic_source`` (recursively), else the
    bundled photos (names like ``skimage:astronaut``)."""
    source = config.synthetic_source
    if not source:
        return [Record(name, None) for name in bundled_sources()]
    folders = [Path(source)] + sorted(p for p in Path(source).rglob("*") if p.is_dir())
    photos = [Record(str(p), None) for folder in folders for p in list_images(folder)]
    if not photos:
        raise DataError(f"{source}: no images found for --synthetic-source")
    return photos


def split_length(config: DataConfig, split: str) -> int:
    """Images per pass: ``synthetic_size`` for train; that size times the split's fraction (at least
    one image) for val/test, so the evaluation set never depends on the batch size."""
    if split == "train":
        return config.synthetic_size
    fraction = config.val_fraction if split == "val" else config.test_fraction
    return max(1, round(config.synthetic_size * fraction))


@GENERATORS.register("synthetic")
def build_synthetic(config: DataConfig, split: str, records: list[Record],
                    include_authentic: bool, length: int | None = None) -> SyntheticDataset:
    """The split's generator (``length`` samples, default :func:`split_length`); with a source folder
    each split gets its own photos."""
    if config.synthetic_source:
        records = split_records(records, split, config.split_seed, config.val_fraction, config.test_fraction)
        if not records:
            raise DataError(f"{config.synthetic_source}: too few photos to give the {split} split any")
    return SyntheticDataset([r.image for r in records], split, length or split_length(config, split),
                            config.crop_size, config.split_seed, include_authentic)
