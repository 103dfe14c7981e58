"""The data layer's public API, shared by train.py and test.py.

- :func:`add_data_args`: every data flag: :func:`add_source_args` (dataset, roots, splits, sizes,
  loader; shared with test.py) and :func:`add_transform_args` (train.py's augmentation and resize); their
  defaults are :class:`DataConfig`'s and :class:`TransformConfig`'s, and ``DataConfig.from_flags`` turns
  the parsed flags into the one typed value every function here takes.
- :func:`build_dataset`: records of a dataset → split → audited → :class:`PairDataset` (or the
  synthetic generator).
- :func:`make_data_loader`: the DataLoader (a DistributedSampler when ``distributed``; the trainer
  calls ``loader.sampler.set_epoch(epoch)`` where the sampler has it).
- :func:`write_split_lists`: the split's file list into a run folder.
"""
from __future__ import annotations

import argparse
import os

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dataloaders.audit import MISMATCH_POLICIES, audit_records
from dataloaders.config import DataConfig, TransformConfig
from dataloaders.datasets import DATASETS, GENERATORS
from dataloaders.datasets.folder import read_pair_list
from dataloaders.mixed import MixedDataset, mixed_length
from dataloaders.pair_dataset import PairDataset
from dataloaders.records import Record
from dataloaders.splits import SPLITS, split_records, write_split_lists
from dataloaders.samplers import EpochSampler, ShardSampler
from dataloaders.synthetic import SyntheticDataset
from dataloaders.transforms.joint import Compose
from dataloaders.transforms.presets import transform_for
from mypath import DATASET_FOLDERS, Path
from utils.dist import get_rank, get_world_size
from utils.errors import UserError

__all__ = ["DataConfig", "TransformConfig", "add_data_args", "add_source_args", "add_transform_args",
           "build_dataset", "make_data_loader", "write_split_lists", "dataset_root"]


def add_data_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register every data flag on ``parser`` (what :meth:`DataConfig.from_flags` reads); returns the
    parser."""
    return add_transform_args(add_source_args(parser))


def add_source_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the flags that pick, split, audit and load the records (a group "data"); returns the
    parser. test.py takes these only: it reads every image at full resolution."""
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default=DataConfig.dataset, help=f"one of: {', '.join(DATASETS.names())}")
    group.add_argument("--data-root", default=DataConfig.data_root,
                       help="dataset folder (default: from mypath.py env vars)")
    group.add_argument("--list", default=DataConfig.pair_list,
                       help="pair list (text or JSON) for --dataset list / nist16")
    group.add_argument("--val-dataset", default=DataConfig.val_dataset,
                       help="validate on another dataset (all of it)")
    group.add_argument("--val-list", default=DataConfig.val_list,
                       help="validate on this pair list, all of it (relative paths from --data-root)")
    group.add_argument("--split-seed", type=int, default=DataConfig.split_seed,
                       help="seed of the train/val/test split and of the synthetic data")
    group.add_argument("--val-fraction", type=float, default=DataConfig.val_fraction,
                       help="share of --dataset's records held out for validation")
    group.add_argument("--test-fraction", type=float, default=DataConfig.test_fraction,
                       help="1.0 = evaluate the whole set")
    group.add_argument("--crop-size", type=int, default=DataConfig.crop_size,
                       help="train crop (and synthetic image) side")
    group.add_argument("--workers", type=int, default=DataConfig.workers,
                       help="DataLoader worker processes (one keeps up with the model on a 2-core CPU)")
    group.add_argument("--batch-size", type=int, default=DataConfig.batch_size,
                       help="train batch (over all processes under DDP)")
    group.add_argument("--test-batch-size", type=int, default=DataConfig.test_batch_size,
                       help="val/test batch (default: --batch-size)")
    group.add_argument("--include-authentic", action=argparse.BooleanOptionalAction,
                       default=DataConfig.include_authentic,
                       help="use authentic images as negatives (default: off for train, on for val/test)")
    group.add_argument("--mask-mismatch", choices=MISMATCH_POLICIES, default=DataConfig.mask_mismatch,
                       help="mask of another size than its image: error, resize (nearest) or skip")
    group.add_argument("--skip-bad", action="store_true", help="skip and count unreadable files")
    group.add_argument("--synthetic-source", default=DataConfig.synthetic_source,
                       help="folder of authentic photos to tamper")
    group.add_argument("--synthetic-size", type=int, default=DataConfig.synthetic_size,
                       help="generated train images per epoch")
    return parser


def add_transform_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the flags of the train and validation transforms (a group "transforms"); returns the
    parser."""
    group = parser.add_argument_group("transforms")
    group.add_argument("--base-size", type=int, default=TransformConfig.base_size,
                       help="val/test resize (square); 0 = original")
    group.add_argument("--min-scale", type=float, default=TransformConfig.min_scale,
                       help="train random scale range (low)")
    group.add_argument("--max-scale", type=float, default=TransformConfig.max_scale,
                       help="train random scale range (high)")
    group.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=TransformConfig.hflip,
                       help="random flips")
    group.add_argument("--color-jitter", type=float, default=TransformConfig.color_jitter,
                       help="brightness/contrast/saturation ±")
    group.add_argument("--degrade-prob", type=float, default=TransformConfig.degrade_prob,
                       help="chance of one JPEG/blur/noise degradation per train image")
    group.add_argument("--mix-synthetic", type=float, default=DataConfig.mix_synthetic, metavar="R",
                       help="joint training: add R x (real train images) synthetic samples, made from "
                            "--synthetic-source photos (else the bundled ones), to a real dataset's train "
                            "split")
    return parser


def dataset_root(name: str, config: DataConfig) -> str:
    """``data_root`` for the main ``dataset``, else the mypath.py root of ``name`` ("" for the list
    dataset, whose paths come from the list file)."""
    if config.data_root and name == config.dataset:
        return config.data_root
    if name in DATASET_FOLDERS:
        return Path.db_root_dir(name)
    if name == "folder":
        raise UserError("--dataset folder needs --data-root DIR (with Tp/, Gt/ and optionally Au/)")
    return ""


def _include_authentic(config: DataConfig, split: str) -> bool:
    return split != "train" if config.include_authentic is None else config.include_authentic


def _dataset_name(config: DataConfig, split: str, name: str | None) -> str:
    if name:
        return name
    return config.val_dataset if split == "val" and config.val_dataset else config.dataset


def build_dataset(config: DataConfig, split: str, name: str | None = None,
                  transform: Compose | None = None) -> Dataset:
    """The ``split`` of dataset ``name`` (default ``config.dataset``; ``val_dataset`` for val), its pairs
    transformed by ``transform`` (default: the split's pipeline from ``config.transforms``). A
    ``mix_synthetic`` above 0 adds that share of generated samples to a real train split.

    A dataset other than ``config.dataset`` is used whole (cross-dataset evaluation); otherwise the
    records are split by ``split_seed`` and the fractions, after removing the ``val_list`` images (which
    form the val split when given). Records are audited (``skip_bad``, ``mask_mismatch``) before the
    dataset is built.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; choose one of: {', '.join(SPLITS)}")
    if transform is None:
        transform = transform_for(config.transforms, split, config.crop_size)
    if split == "val" and name is None and config.val_list:
        return _val_list_dataset(config, transform)
    name = _dataset_name(config, split, name)
    list_records = DATASETS.get(name)
    root = dataset_root(name, config)
    records = list_records(root, config)
    include_authentic = _include_authentic(config, split)
    if name in GENERATORS:
        return GENERATORS.get(name)(config, split, records, include_authentic)
    if name == config.dataset:
        records = split_records(_without_val_list(records, config), split, config.split_seed,
                                config.val_fraction, config.test_fraction)
    dataset = _pair_dataset(config, records, split, root, transform)
    if split == "train" and config.mix_synthetic > 0:
        return _with_synthetic(config, dataset)
    return dataset


def _with_synthetic(config: DataConfig, real: PairDataset) -> MixedDataset:
    """``real`` plus ``mix_synthetic`` × its length generated train samples (joint training)."""
    photos = DATASETS.get("synthetic")("", config)
    length = mixed_length(len(real), config.mix_synthetic)
    synthetic = GENERATORS.get("synthetic")(config, "train", photos, False, length=length)
    return MixedDataset(real, synthetic)


def _without_val_list(records: list[Record], config: DataConfig) -> list[Record]:
    """``records`` less the images of ``val_list`` (if given), so train and test never hold a
    validation image."""
    if not config.val_list:
        return records
    held_out = {os.path.realpath(r.image) for r in read_pair_list(config.val_list, config.data_root or None)}
    return [r for r in records if os.path.realpath(r.image) not in held_out]


def _val_list_dataset(config: DataConfig, transform: Compose) -> Dataset:
    """``val_list`` used whole as the validation set (a fixed split, e.g. CASIA v1's val.txt)."""
    root = config.data_root or ""
    return _pair_dataset(config, read_pair_list(config.val_list, root or None), "val", root, transform)


def _pair_dataset(config: DataConfig, records: list, split: str, root: str,
                  transform: Compose) -> Dataset:
    """Drop authentic records unless wanted, audit the files, wrap them in a :class:`PairDataset`."""
    if not _include_authentic(config, split):
        records = [r for r in records if r.tampered]
    records = audit_records(records, config.mask_mismatch, config.skip_bad)
    return PairDataset(records, transform, root, config.mask_mismatch == "resize", split)


def _sampler(dataset: Dataset, split: str, distributed: bool, seed: int) -> torch.utils.data.Sampler | None:
    """EpochSampler for synthetic training (fresh images per epoch); when distributed, a shuffling
    DistributedSampler for training (seeded by ``seed``, the same on every rank) and a non-padding
    ShardSampler for evaluation (each image counted once); else None (the DataLoader shuffles train
    itself)."""
    world, rank = (get_world_size(), get_rank()) if distributed else (1, 0)
    if isinstance(dataset, SyntheticDataset) and split == "train":
        return EpochSampler(len(dataset), world, rank)
    if not distributed:
        return None
    if split == "train":
        return DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    return ShardSampler(len(dataset), world, rank)


def make_data_loader(config: DataConfig, split: str, name: str | None = None,
                     distributed: bool = False) -> DataLoader:
    """A DataLoader over :func:`build_dataset` (train: shuffled, drops the last partial batch)."""
    dataset = build_dataset(config, split, name)
    if len(dataset) == 0:
        raise UserError(f"the {split} split of '{_dataset_name(config, split, name)}' is empty "
                        "(check --val-fraction/--test-fraction and --include-authentic)")
    train = split == "train"
    sampler = _sampler(dataset, split, distributed, config.seed)
    batch_size = config.batch_size if train else config.eval_batch_size
    return DataLoader(dataset, batch_size=batch_size,
                      shuffle=train and sampler is None, sampler=sampler, num_workers=config.workers,
                      pin_memory=torch.cuda.is_available(),
                      drop_last=train and len(dataset) >= config.batch_size,
                      persistent_workers=False)
