"""The synthetic tampering generator: determinism, split separation, masks, tampering operations."""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pytest
from PIL import Image

from dataloaders import DataConfig, add_data_args, build_dataset, make_data_loader
from dataloaders.datasets import DATASETS
from dataloaders.synthetic.photos import PhotoPool, bundled_sources, random_view
from dataloaders.synthetic.shapes import AREA_RANGE, SHAPES, random_region
from dataloaders.synthetic.tamper import blend, colour_match, copy_move, removal
from dataloaders.samplers import EpochSampler, ShardSampler
from dataloaders.synthetic import SyntheticDataset
from dataloaders.synthetic.__main__ import main as synthetic_main

SIZE = 64


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return SyntheticDataset(bundled_sources(), "train", 16, SIZE, seed=3)


def test_bundled_photos_load_offline():
    pool = PhotoPool(bundled_sources())
    assert len(pool) == 16
    for index in range(len(pool)):
        assert pool[index].mode == "RGB" and max(pool[index].size) <= 800


def test_same_index_same_sample_and_splits_differ(dataset):
    a, b = dataset.generate(5), dataset.generate(5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    val = SyntheticDataset(bundled_sources(), "val", 16, SIZE, seed=3)
    assert not np.array_equal(val.generate(5).image, a.image)
    assert not np.array_equal(dataset.generate(6).image, a.image)


def test_samples_are_binary_tampered_and_varied(dataset):
    kinds = set()
    for index in range(40):
        sample = dataset.generate(index)
        assert sample.image.shape == (SIZE, SIZE, 3) and sample.image.dtype == np.uint8
        assert sample.mask.dtype == bool and AREA_RANGE[0] <= sample.mask.mean() <= AREA_RANGE[1]
        kinds.add(sample.kind.split("-")[0])
    assert kinds == {"splice", "copymove", "removal"}


def test_authentic_samples_when_included():
    data = SyntheticDataset(bundled_sources(), "val", 30, SIZE, include_authentic=True)
    labels = [data[i]["label"] for i in range(30)]
    assert 0 < labels.count(0) < 30
    assert all(data[i]["mask"].sum() == 0 for i in range(30) if labels[i] == 0)


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_shapes_cover_roughly_the_requested_area(kind):
    rng = np.random.default_rng(0)
    areas = [SHAPES[kind](rng, 128, 0.1).mean() for _ in range(10)]
    assert 0.03 < np.median(areas) < 0.2


def test_random_region_area_always_in_range():
    rng = np.random.default_rng(1)
    for _ in range(30):
        mask, _ = random_region(rng, 96)
        assert AREA_RANGE[0] <= mask.mean() <= AREA_RANGE[1]


def test_blend_hard_and_feathered_edges():
    rng = np.random.default_rng(0)
    host = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    content = np.full((32, 32, 3), 200.0, np.float32)
    region = np.zeros((32, 32), bool)
    region[5:15, 8:20] = True
    out = blend(host, content, region)
    assert np.array_equal(out[~region], host[~region]) and (out[region] == 200).all()
    soft = blend(host, content, region, feather=2.0)
    ring = np.zeros_like(region)
    ring[3:17, 6:22] = True
    ring &= ~region  # just outside the region: partly blended
    assert not np.array_equal(soft[ring], host[ring]) and np.array_equal(soft[30:, 28:], host[30:, 28:])


def test_colour_match_transfers_region_statistics():
    rng = np.random.default_rng(0)
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    host = rng.normal(150, 20, (40, 40, 3)).clip(0, 255)
    patch = rng.normal(60, 5, (40, 40, 3)).clip(0, 255)
    matched = colour_match(patch, host, region)
    assert np.allclose(matched[region].mean(0), host[region].mean(0), atol=1.0)
    assert np.allclose(matched[region].std(0), host[region].std(0), rtol=0.1)


def test_copy_move_pastes_content_from_the_same_image():
    gradient = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))
    region = np.zeros((64, 64), bool)
    region[28:36, 28:36] = True
    moved = copy_move(gradient, region, np.random.default_rng(4))
    assert moved.shape == gradient.shape
    assert np.abs(moved[region] - gradient[region].astype(np.float32)).mean() > 5  # content really moved
    assert moved.min() >= 0 and moved.max() <= 255  # reflected, never black borders from outside


def test_removal_fills_from_surroundings():
    host = np.full((64, 64, 3), 100, np.uint8)
    host[20:44, 20:44] = (250, 0, 0)  # an object to remove
    region = np.zeros((64, 64), bool)
    region[18:46, 18:46] = True
    filled = removal(host, region, np.random.default_rng(0))
    assert np.abs(filled[region] - 100).mean() < 10  # the surroundings, not the removed object


def test_random_view_is_deterministic_and_sized():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    a = random_view(photo, 48, np.random.default_rng(1))
    assert a.shape == (48, 48, 3) and np.array_equal(a, random_view(photo, 48, np.random.default_rng(1)))


def test_epoch_sampler_gives_fresh_indices_each_epoch_and_shards():
    sampler = EpochSampler(6)
    first, second = list(sampler), list(sampler)
    assert first == list(range(6)) and second == list(range(6, 12))
    sampler.set_epoch(0)
    assert list(sampler) == first
    shards = [list(EpochSampler(6, num_replicas=2, rank=r)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == first and not set(shards[0]) & set(shards[1])


def test_shard_sampler_covers_every_index_once_without_padding():
    shards = [list(ShardSampler(7, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7)) and [len(s) for s in shards] == [3, 2, 2]


def _args(*flags: str) -> DataConfig:
    parser = add_data_args(argparse.ArgumentParser())
    parsed = parser.parse_args(["--workers", "0", "--crop-size", str(SIZE), *flags])
    return DataConfig.from_flags(vars(parsed))


def test_default_loader_is_synthetic():
    loader = make_data_loader(_args("--synthetic-size", "8", "--batch-size", "4"), "train")
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, SIZE, SIZE) and batch["mask"].shape == (4, 1, SIZE, SIZE)
    assert batch["label"].tolist() == [1, 1, 1, 1] and batch["size"].tolist() == [[SIZE, SIZE]] * 4
    assert isinstance(loader.sampler, EpochSampler)


def test_synthetic_eval_length_does_not_depend_on_the_batch_size():
    """val/test hold round(synthetic_size x fraction) images, at least one, whatever the batch sizes."""
    batch_flags = (("--batch-size", "1"), ("--batch-size", "8"), ("--batch-size", "64"),
                   ("--test-batch-size", "32"))
    for flags in batch_flags:
        config = _args("--synthetic-size", "48", *flags)
        assert (len(build_dataset(config, "val")), len(build_dataset(config, "test"))) == (5, 5), flags
    assert len(build_dataset(_args("--synthetic-size", "4"), "val")) == 1
    assert len(build_dataset(_args(), "val")) == 100  # the default 1000 x 0.1


def test_source_folder_photos_are_split_between_splits(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(20):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"p{index}.png")
    args = _args("--synthetic-source", str(tmp_path), "--val-fraction", "0.2", "--test-fraction", "0.2")
    sources = {split: set(build_dataset(args, split).pool.sources) for split in ("train", "val", "test")}
    assert sources["train"] and sources["val"] and sources["test"]
    assert not (sources["train"] & sources["val"]) and not (sources["train"] & sources["test"])
    assert len(DATASETS.get("synthetic")("", args)) == 20


def test_cli_materialises_a_folder_dataset_with_preview(tmp_path, monkeypatch):
    out = tmp_path / "syn"
    monkeypatch.setattr(sys, "argv", ["synthetic", "--out", str(out), "--n", "4", "--size", "48"])
    synthetic_main()
    preview = Image.open(out / "preview.png")
    assert preview.size == (3 * 160, 4 * 160)
    records = DATASETS.get("folder")(str(out))
    assert len(records) == 4 and all(r.tampered for r in records)
