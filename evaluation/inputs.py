"""``test.py --in-path``: one image, a folder, a glob, a pair list (text/JSON) or a dataset name, turned
into one Dataset of full-resolution samples (the original image, its mask or None, a name).

Ground truth comes from the layout (dataset, list, ``Tp/``+``Gt/`` folder) or from ``--gt-path`` (a mask
file for one image, a mask folder matched by stem otherwise). Listing reuses :mod:`dataloaders`.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from dataloaders import DataConfig, build_dataset
from dataloaders.audit import audit_records
from dataloaders.datasets import DATASETS
from dataloaders.datasets.common import IMAGE_EXTENSIONS, list_images
from dataloaders.datasets.folder import list_folder, match_masks, read_pair_list
from dataloaders.io import read_image
from dataloaders.pair_dataset import load_pair
from dataloaders.records import Record
from dataloaders.synthetic import SyntheticDataset
from dataloaders.transforms.joint import Compose
from evaluation.config import EvalConfig
from utils.errors import DataError, UserError

LIST_SUFFIXES = {".txt", ".json", ".lst"}
MAX_LISTED = 10
# what defines a split (for synthetic data, the photos it is made from too)
SPLIT_FLAGS = ("split_seed", "val_fraction", "test_fraction", "synthetic_size", "crop_size", "synthetic_source")


@dataclass
class EvalSource:
    """What ``--in-path`` resolved to: records (or a synthetic generator) and whether GT is known."""

    records: list[Record]
    has_gt: bool
    root: str = ""
    synthetic: SyntheticDataset | None = None


class EvalDataset(Dataset):
    """Full-resolution samples ``{"name", "image": uint8 (H,W,3), "mask": bool (H,W) | None, "error"}``.

    With ``skip_bad`` an unreadable file gives ``error`` (one line) instead of raising, so the loop can
    count it; ``perturb`` degrades the PIL image (``--robust``) before conversion.
    """

    def __init__(self, source: EvalSource, mask_mismatch: str = "error", skip_bad: bool = False,
                 perturb: Callable[[Image.Image], Image.Image] | None = None) -> None:
        self.source = source
        self.mask_mismatch = mask_mismatch
        self.skip_bad = skip_bad
        self.perturb = perturb

    def __len__(self) -> int:
        return len(self.source.synthetic) if self.source.synthetic is not None else len(self.source.records)

    def __getitem__(self, index: int) -> dict:
        try:
            name, image, mask = self._load(index)
        except DataError as error:
            if not self.skip_bad:
                raise
            return {"name": str(index), "image": None, "mask": None, "error": str(error)}
        if self.perturb is not None:
            image = self.perturb(image)
        return {"name": name, "image": np.asarray(image), "mask": mask, "error": None}

    def _load(self, index: int) -> tuple[str, Image.Image, np.ndarray | None]:
        if self.source.synthetic is not None:
            sample = self.source.synthetic.generate(index)
            return f"synthetic_{index:06d}_{sample.kind}", Image.fromarray(sample.image), sample.mask
        record = self.source.records[index]
        root = self.source.root
        name = str(Path(record.image).relative_to(root)) if root else Path(record.image).name
        if not self.source.has_gt:
            return name, read_image(record.image), None
        image, mask = load_pair(record, self.mask_mismatch == "resize")
        return name, image, mask


def _listed(paths: Sequence[str]) -> str:
    shown = ", ".join(Path(p).name for p in paths[:MAX_LISTED])
    return shown + (f" and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else "")


def _pair_with_masks(images: list[Path], gt_path: str | None) -> EvalSource:
    """Images with masks from the ``--gt-path`` folder (by stem, optional ``_gt``/``_mask``), or no GT."""
    if not gt_path:
        return EvalSource([Record(str(p), None) for p in images], has_gt=False)
    gt_dir = Path(gt_path)
    if not gt_dir.is_dir():
        raise UserError(f"{gt_dir}: --gt-path must be a mask folder when --in-path holds several images")
    records = [Record(str(p), mask) for p, mask in zip(images, match_masks(images, gt_dir))]
    missing = [r.image for r in records if not r.mask]
    if missing:
        raise DataError(f"{gt_dir}: {len(images)} image(s) but {len(images) - len(missing)} matching "
                        f"mask(s); no mask for {_listed(missing)}")
    return EvalSource(records, has_gt=True)


def _from_folder(folder: Path, gt_path: str | None) -> EvalSource:
    if (folder / "Tp").is_dir() or (folder / "Au").is_dir():
        records = list_folder(str(folder))
        unmatched = [str(p) for p in list_images(folder / "Tp") if str(p) not in {r.image for r in records}]
        if unmatched:
            raise DataError(f"{folder}: {len(unmatched)} image(s) in Tp/ have no mask in Gt/: "
                            f"{_listed(unmatched)}")
        return EvalSource(records, has_gt=True, root=str(folder))
    images = list_images(folder)
    if not images:
        raise DataError(f"{folder}: no images in this folder ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    source = _pair_with_masks(images, gt_path)
    source.root = str(folder)
    return source


def _from_dataset(name: str, split: str, data: DataConfig) -> EvalSource:
    """The records of ``split`` of dataset ``name`` (``data`` with ``name`` as its dataset), or its
    synthetic generator; no transform, only the records are used."""
    dataset = build_dataset(replace(data, dataset=name), split, transform=Compose([]))
    if isinstance(dataset, SyntheticDataset):
        return EvalSource([], has_gt=True, synthetic=dataset)
    return EvalSource(list(dataset.records), has_gt=True, root=dataset.root)


def names_a_dataset(in_path: str) -> bool:
    """Whether ``--in-path`` is a registered dataset name (and not an existing file or folder)."""
    return in_path in DATASETS and not Path(in_path).exists()


def inherit_split_flags(in_path: str, given: Mapping[str, Any],
                        saved: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The :data:`SPLIT_FLAGS` values that make ``--split`` rebuild the training run's split, and the
    names taken from ``saved``. A flag the user gave (not None in ``given``) keeps its value; an unset one
    comes from ``saved`` (the checkpoint's ``args``) when that run trained on the ``in_path`` dataset, else
    from :class:`DataConfig`'s defaults."""
    same_dataset = names_a_dataset(in_path) and saved.get("dataset") == in_path
    values: dict[str, Any] = {}
    taken: list[str] = []
    for name in SPLIT_FLAGS:
        if given.get(name) is not None:
            values[name] = given[name]
        elif same_dataset and saved.get(name) is not None:
            values[name] = saved[name]
            taken.append(name)
        else:
            values[name] = getattr(DataConfig, name)
    return values, taken


def resolve_inputs(config: EvalConfig) -> EvalSource:
    """Resolve ``in_path`` (+ ``gt_path``, ``split``) into an :class:`EvalSource` or a one-line error."""
    in_path, data = config.in_path, config.data
    path, gt = Path(in_path), config.gt_path
    if path.is_dir():
        source = _from_folder(path, gt)
    elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        source = EvalSource(read_pair_list(path, data.data_root), has_gt=True)
    elif path.is_file():
        source = EvalSource([Record(str(path), gt)], has_gt=bool(gt))
    elif glob.has_magic(in_path):
        matches = sorted(p for p in map(Path, glob.glob(in_path)) if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not matches:
            raise UserError(f"{in_path}: the pattern matches no image")
        source = _pair_with_masks(matches, gt)
    elif names_a_dataset(in_path):
        return _from_dataset(in_path, config.split, data)
    else:
        raise UserError(f"{in_path}: no such file, folder or glob match, and not a dataset "
                        f"(datasets: {', '.join(DATASETS.names())})")
    # header reads only: a missing/unreadable file or a mask of the wrong size fails before the model runs
    source.records = audit_records(source.records, data.mask_mismatch, data.skip_bad)
    return source
