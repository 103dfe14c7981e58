"""``--mix-synthetic``: joint training on a real dataset's train split plus generated tampering."""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from dataloaders import DataConfig, add_data_args, make_data_loader
from dataloaders.mixed import MixedDataset, mixed_length


def _tree(root, count: int = 4) -> None:
    region = np.zeros((40, 40), np.uint8)
    region[10:25, 5:30] = 255
    for index in range(count):
        (root / "Tp").mkdir(parents=True, exist_ok=True)
        (root / "Gt").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 40, 3), 20 * index, np.uint8)).save(root / "Tp" / f"t{index}.png")
        Image.fromarray(region).save(root / "Gt" / f"t{index}.png")


def _args(root, *flags: str) -> DataConfig:
    parsed = add_data_args(argparse.ArgumentParser()).parse_args(
        ["--workers", "0", "--dataset", "folder", "--data-root", str(root), "--val-fraction", "0",
         "--test-fraction", "0", "--crop-size", "32", "--batch-size", "2", *flags])
    return DataConfig.from_flags(vars(parsed))


def test_mixed_length_rounds_and_keeps_at_least_one() -> None:
    assert [mixed_length(100, r) for r in (0.0, 0.5, 1.0, 0.001)] == [0, 50, 100, 1]


def test_train_split_gets_the_synthetic_share_and_batches_collate(tmp_path) -> None:
    _tree(tmp_path)
    loader = make_data_loader(_args(tmp_path, "--mix-synthetic", "0.5"), "train")
    assert isinstance(loader.dataset, MixedDataset)
    assert (len(loader.dataset.real), len(loader.dataset.synthetic)) == (4, 2)
    names = [name for batch in loader for name in batch["name"]]
    assert sum(name.startswith("synthetic_train_") for name in names) == 2
    assert sum(name.startswith("Tp/") for name in names) == 4
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 1, 32, 32)
    assert [r.image for r in loader.dataset.records] == [r.image for r in loader.dataset.real.records]


def test_without_a_ratio_and_for_evaluation_nothing_is_mixed(tmp_path) -> None:
    _tree(tmp_path)
    assert not isinstance(make_data_loader(_args(tmp_path), "train").dataset, MixedDataset)
    args = _args(tmp_path, "--test-fraction", "1", "--mix-synthetic", "1")
    assert not isinstance(make_data_loader(args, "test").dataset, MixedDataset)
