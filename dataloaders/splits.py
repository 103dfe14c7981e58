"""Deterministic train/val/test splits that keep related records together, and the split lists
written into a run folder so a result can be reproduced.

Records sharing ``Record.group_key`` (e.g. CASIA images made from the same source photo) always land in
the same split. The groups are shuffled with ``seed`` and dealt to test first, then val, until each
holds its fraction of the records; the rest is train.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from dataloaders.records import Record
from utils.errors import UserError

SPLITS = ("train", "val", "test")


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise a UserError unless both fractions are in [0, 1] and sum to at most 1."""
    if not (0 <= val_fraction <= 1 and 0 <= test_fraction <= 1 and val_fraction + test_fraction <= 1):
        raise UserError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction} must be in "
                        "[0, 1] and sum to at most 1")


def assign_splits(records: Sequence[Record], seed: int, val_fraction: float,
                  test_fraction: float) -> dict[str, list[Record]]:
    """All three splits of ``records`` (each record in exactly one), grouped by ``group_key``."""
    check_fractions(val_fraction, test_fraction)
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.group_key].append(record)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    targets = {"test": round(test_fraction * len(records)), "val": round(val_fraction * len(records))}
    result: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for index in order:
        split = next((s for s in ("test", "val") if len(result[s]) < targets[s]), "train")
        result[split].extend(groups[keys[index]])
    return result


def split_records(records: Sequence[Record], split: str, seed: int, val_fraction: float,
                  test_fraction: float) -> list[Record]:
    """The records of one ``split`` (see :func:`assign_splits`)."""
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; choose one of: {', '.join(SPLITS)}")
    return assign_splits(records, seed, val_fraction, test_fraction)[split]


def group_by_shared_keys(records: Sequence[Record],
                         keys_of: Callable[[Record], Iterable[str]]) -> list[Record]:
    """Give records that share any key (transitively: connected components) one common ``group``."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    record_keys = [list(keys_of(r)) or [r.image] for r in records]
    for keys in record_keys:
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    return [Record(r.image, r.mask, r.invert, r.mask_format, find(keys[0]))
            for r, keys in zip(records, record_keys)]


def _records_of(dataset_or_records: object) -> tuple[list[Record] | None, str]:
    """(records or None for generated data, split name) of a DataLoader, Dataset or record list."""
    dataset = getattr(dataset_or_records, "dataset", dataset_or_records)
    split = getattr(dataset, "split", "all")
    if hasattr(dataset, "records"):
        return list(dataset.records), split
    if isinstance(dataset, (list, tuple)):
        return list(dataset), split
    return None, split


def write_split_lists(dataset_or_records: object, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<split>_list.txt`` (``image mask`` per line, ``-`` = authentic; readable by
    ``--dataset list``). Generated datasets write their generation parameters instead. Returns the path."""
    records, split = _records_of(dataset_or_records)
    out = Path(out_dir) / f"{split}_list.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    if records is None:
        describe = getattr(dataset_or_records, "dataset", dataset_or_records)
        lines = describe.describe() if hasattr(describe, "describe") else [f"# {type(describe).__name__}"]
    else:
        lines = [f"{Path(r.image).resolve()} {Path(r.mask).resolve() if r.mask else '-'}" for r in records]
    out.write_text("".join(line + "\n" for line in lines))
    return out
