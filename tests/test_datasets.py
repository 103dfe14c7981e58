"""Dataset listers against the real fixtures and faithful tiny trees, splits, loaders, bad input."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataloaders import DataConfig, add_data_args, build_dataset, make_data_loader, write_split_lists
from dataloaders.audit import audit_records
from dataloaders.datasets import DATASETS
from dataloaders.mask_formats import columbia_region
from dataloaders.pair_dataset import load_pair
from dataloaders.records import Record
from dataloaders.splits import assign_splits
from utils.errors import DataError, UserError

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures" / "iml_samples"
CASIA1_FULL = SHARED / "datasets" / "CASIA1"


def _args(*flags: str) -> DataConfig:
    """The data settings of these data flags (as train.py builds them)."""
    parsed = add_data_args(argparse.ArgumentParser()).parse_args(["--workers", "0", *flags])
    return DataConfig.from_flags(vars(parsed))


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures are not on this machine)")


def _as_pairs(records: list[Record], base: Path) -> set[str]:
    return {f"{Path(r.image).relative_to(base)} {Path(r.mask).relative_to(base) if r.mask else '-'}"
            for r in records}


def _pair_file(path: Path, prefix: str = "") -> set[str]:
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return {line for line in lines if line.startswith(prefix)}


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def test_registry_has_every_documented_name():
    assert set(DATASETS.names()) == {"casia1", "casia2", "nist16", "coverage", "columbia", "folder", "list",
                                     "synthetic"}


def test_casia1_fixture_pairs_include_swapped_ids():
    _need(FIXTURES / "CASIA1")
    records = DATASETS.get("casia1")(str(FIXTURES / "CASIA1"))
    assert _as_pairs(records, FIXTURES) == _pair_file(FIXTURES / "pairs" / "CASIA1.txt")
    assert sum(r.tampered for r in records) == 5 and len(records) == 7


@pytest.fixture(scope="module")
def casia1_full() -> tuple[list[Record], str]:
    """The full CASIA v1 listing (read once) and what the lister printed."""
    _need(CASIA1_FULL / "pairs.txt")
    import contextlib
    import io

    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        records = DATASETS.get("casia1")(str(CASIA1_FULL))
    return records, log.getvalue()


def test_casia1_full_set_reproduces_pairs_txt_exactly(casia1_full):
    records, log = casia1_full
    lines = [f"{Path(r.image).relative_to(CASIA1_FULL)} "
             f"{Path(r.mask).relative_to(CASIA1_FULL) if r.mask else '-'}" for r in records]
    expected = [line for line in (CASIA1_FULL / "pairs.txt").read_text().splitlines() if line.strip()]
    assert lines == expected
    assert "919 tampered image(s) paired" in log and "2 unmatched" in log
    assert "Sp_D_NRN_A_sce0011_cha0011_0542.jpg (no mask)" in log
    assert "Sp_D_CNN_A_sec0012_ani0007_0275.jpg (mask" in log
    tampered_groups = {r.group for r in records if r.tampered}
    assert len(tampered_groups) == 222  # connected components of shared source ids (datasets README)


def test_casia1_splits_never_share_a_source_photo(casia1_full):
    splits = assign_splits(casia1_full[0], 0, 0.1, 0.2)
    groups = {name: {r.group_key for r in records} for name, records in splits.items()}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"])


def test_casia2_fixture():
    _need(FIXTURES / "CASIA2_samples")
    records = DATASETS.get("casia2")(str(FIXTURES / "CASIA2_samples"))
    assert _as_pairs(records, FIXTURES) == _pair_file(FIXTURES / "pairs" / "CASIA2_samples.txt")


def test_coverage_mask_mismatch_policies(capsys):
    _need(FIXTURES / "COVERAGE")
    records = DATASETS.get("coverage")(str(FIXTURES / "COVERAGE"))
    reference = _pair_file(FIXTURES / "pairs" / "COVERAGE.txt")
    assert {r.image for r in records} == {str(FIXTURES / line.split()[0]) for line in reference}
    assert "COVERAGE/image/52t.tif COVERAGE/mask/52forged.tif" in _as_pairs(records, FIXTURES)
    with pytest.raises(DataError, match=r"(41|55)forged.tif: mask is"):
        audit_records(records, "error")
    kept = audit_records(records, "skip")
    assert [Path(r.image).name for r in kept if r.tampered] == ["52t.tif"]
    assert "2 mask(s) of another size than their image: skipped" in capsys.readouterr().out
    resized = audit_records(records, "resize")
    for record in (r for r in resized if r.tampered):
        image, mask = load_pair(record, resize_masks=True)
        assert mask.shape == (image.height, image.width) and 0 < mask.mean() < 0.5


def _nc2016_tree(root: Path) -> None:
    """A tiny NC2016 tree: pipe-separated reference CSV, inverted masks (0 = manipulated)."""
    _save(root / "probe" / "NC2016_0001.jpg", np.full((20, 30, 3), 120, np.uint8))
    _save(root / "probe" / "NC2016_0002.jpg", np.full((20, 30, 3), 60, np.uint8))
    inverted = np.full((20, 30), 255, np.uint8)
    inverted[5:10, 4:12] = 0
    _save(root / "reference" / "manipulation" / "mask" / "NC2016_0001.png", inverted)
    header = ("TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|DonorFileID|DonorFileName|"
              "DonorMaskFileName|IsTarget|ProbePostProcessed|DonorPostProcessed|ManipulationQuality")
    rows = ["manipulation|0001|probe/NC2016_0001.jpg|reference/manipulation/mask/NC2016_0001.png|||"
            "|Y|||", "manipulation|0002|probe/NC2016_0002.jpg||||||N|||"]
    csv_path = root / "reference" / "manipulation" / "NC2016-manipulation-ref.csv"
    csv_path.write_text("\n".join([header, *rows]) + "\n")


def test_nist16_reference_csv_and_inverted_polarity(tmp_path):
    _nc2016_tree(tmp_path)
    records = DATASETS.get("nist16")(str(tmp_path), _args())
    assert [(Path(r.image).name, r.tampered, r.invert) for r in records] == [
        ("NC2016_0001.jpg", True, True), ("NC2016_0002.jpg", False, False)]
    _, mask = load_pair(records[0], resize_masks=False)
    expected = np.zeros((20, 30), bool)
    expected[5:10, 4:12] = True
    assert np.array_equal(mask, expected)


def test_nist16_from_a_split_list(tmp_path):
    _nc2016_tree(tmp_path)
    split = tmp_path / "test_160.txt"
    split.write_text("probe/NC2016_0001.jpg reference/manipulation/mask/NC2016_0001.png\n")
    records = DATASETS.get("nist16")(str(tmp_path), _args("--list", str(split)))
    assert len(records) == 1 and records[0].invert and load_pair(records[0], False)[1].sum() == 40


def test_columbia_edgemask_colour_rule(tmp_path):
    spliced = np.zeros((24, 32), bool)
    spliced[:, 18:] = True
    colours = np.zeros((24, 32, 3), np.uint8)
    colours[~spliced] = (255, 0, 0)  # host camera: red
    colours[spliced] = (0, 255, 0)  # spliced camera: green
    colours[:, 17:19] = (255, 255, 0)  # boundary drawn between the regions
    _save(tmp_path / "4cam_splc" / "canong3_nikond70_sub_01.tif", np.full((24, 32, 3), 99, np.uint8))
    (tmp_path / "4cam_splc" / "edgemask").mkdir()
    mask_path = tmp_path / "4cam_splc" / "edgemask" / "canong3_nikond70_sub_01_edgemask.jpg"
    Image.fromarray(colours).save(mask_path, quality=95)
    _save(tmp_path / "4cam_auth" / "canong3_02_sub_01.tif", np.full((24, 32, 3), 50, np.uint8))
    records = DATASETS.get("columbia")(str(tmp_path))
    assert [r.tampered for r in records] == [True, False] and records[0].mask_format == "columbia"
    _, mask = load_pair(records[0], resize_masks=False)
    expected = spliced.copy()
    expected[:, 17:19] = False
    assert (mask == expected).mean() > 0.97
    assert np.array_equal(columbia_region(colours), expected)


def _folder_tree(root: Path) -> None:
    region = np.zeros((16, 16), np.uint8)
    region[4:9, 4:12] = 255
    for stem, suffix in (("a", "_gt"), ("b", "_mask"), ("c", "")):
        _save(root / "Tp" / f"{stem}.png", np.full((16, 16, 3), 100, np.uint8))
        _save(root / "Gt" / f"{stem}{suffix}.png", region)
    _save(root / "Tp" / "orphan.png", np.zeros((16, 16, 3), np.uint8))
    _save(root / "Au" / "x.jpg", np.full((16, 16, 3), 30, np.uint8))


def test_folder_layout_matches_masks_by_stem(tmp_path, capsys):
    _folder_tree(tmp_path)
    records = DATASETS.get("folder")(str(tmp_path))
    assert [(Path(r.image).name, Path(r.mask).name if r.mask else None) for r in records] == [
        ("a.png", "a_gt.png"), ("b.png", "b_mask.png"), ("c.png", "c.png"), ("x.jpg", None)]
    assert "orphan.png (no mask" in capsys.readouterr().out


def test_text_and_json_lists(tmp_path):
    _folder_tree(tmp_path)
    (tmp_path / "pairs.txt").write_text("# my split\nTp/a.png Gt/a_gt.png\nAu/x.jpg -\nTp/b.png None\n\n"
                                        "  # indented comment\nTp/#1.png Gt/#1_gt.png\n")
    records = DATASETS.get("list")("", _args("--list", str(tmp_path / "pairs.txt")))
    assert [(r.image, r.mask) for r in records] == [
        (str(tmp_path / "Tp/a.png"), str(tmp_path / "Gt/a_gt.png")), (str(tmp_path / "Au/x.jpg"), None),
        (str(tmp_path / "Tp/b.png"), None), (str(tmp_path / "Tp/#1.png"), str(tmp_path / "Gt/#1_gt.png"))]
    (tmp_path / "pairs.json").write_text(json.dumps([["Tp/c.png", "Gt/c.png"], ["Au/x.jpg", "Negative"]]))
    records = DATASETS.get("list")("", _args("--list", str(tmp_path / "pairs.json")))
    assert [r.tampered for r in records] == [True, False]
    (tmp_path / "broken.txt").write_text("only-one-field-line-without-mask\n")
    with pytest.raises(DataError, match="broken.txt:1"):
        DATASETS.get("list")("", _args("--list", str(tmp_path / "broken.txt")))


def test_missing_root_names_the_mypath_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CACL_CASIA1_ROOT", raising=False)
    monkeypatch.setenv("CACL_DATA_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="CACL_CASIA1_ROOT"):
        build_dataset(_args("--dataset", "casia1"), "train")
    with pytest.raises(UserError, match="--data-root"):
        build_dataset(_args("--dataset", "folder"), "train")


def test_skip_bad_counts_corrupt_files(tmp_path, capsys):
    _folder_tree(tmp_path)
    (tmp_path / "Tp" / "b.png").write_bytes((tmp_path / "Tp" / "b.png").read_bytes()[:60])
    records = DATASETS.get("folder")(str(tmp_path))
    with pytest.raises(DataError, match="b.png"):
        load_pair(records[1], False)
    kept = audit_records(records, skip_bad=True)
    assert len(kept) == len(records) - 1 and "skipped 1 unreadable file(s)" in capsys.readouterr().out


def test_splits_are_deterministic_disjoint_and_grouped():
    records = [Record(f"img{i}.png", f"m{i}.png" if i % 3 else None, group=f"g{i // 4}") for i in range(100)]
    first, again = assign_splits(records, 7, 0.2, 0.1), assign_splits(records, 7, 0.2, 0.1)
    assert first == again and assign_splits(records, 8, 0.2, 0.1) != first
    images = [r.image for name in ("train", "val", "test") for r in first[name]]
    assert sorted(images) == sorted(r.image for r in records)
    assert 8 <= len(first["test"]) <= 14 and 18 <= len(first["val"]) <= 24
    for name, part in first.items():
        others = {r.group for other, rs in first.items() if other != name for r in rs}
        assert not ({r.group for r in part} & others)
    assert len(assign_splits(records, 0, 0.0, 1.0)["test"]) == 100
    with pytest.raises(UserError):
        assign_splits(records, 0, 0.6, 0.6)


def test_loader_samples_and_split_list_roundtrip(tmp_path):
    _folder_tree(tmp_path)
    args = _args("--dataset", "folder", "--data-root", str(tmp_path), "--val-fraction", "0",
                 "--test-fraction", "1", "--base-size", "24", "--test-batch-size", "4")
    loader = make_data_loader(args, "test")
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 24, 24) and batch["mask"].shape == (4, 1, 24, 24)
    assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0}
    labels = dict(zip(batch["name"], batch["label"].tolist()))
    assert labels == {"Tp/a.png": 1, "Tp/b.png": 1, "Tp/c.png": 1, "Au/x.jpg": 0}
    assert batch["size"].tolist() == [[16, 16]] * 4
    listed = write_split_lists(loader.dataset, tmp_path / "run")
    again = DATASETS.get("list")("", _args("--list", str(listed)))
    assert [(r.image, r.mask) for r in again] == [
        (str(Path(r.image).resolve()), str(Path(r.mask).resolve()) if r.mask else None)
        for r in loader.dataset.records]


def test_distributed_train_shuffle_follows_the_run_seed(tmp_path):
    """Under DDP the training DistributedSampler is seeded by --seed (the same on every rank), not by
    torch's default 0."""
    import torch.distributed as dist

    _folder_tree(tmp_path)
    args = _args("--dataset", "folder", "--data-root", str(tmp_path), "--val-fraction", "0",
                 "--test-fraction", "0", "--batch-size", "1")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        sampler = make_data_loader(replace(args, seed=5), "train", distributed=True).sampler
    finally:
        dist.destroy_process_group()
    assert sampler.seed == 5 and sorted(sampler) == [0, 1, 2]


def test_authentic_images_default_off_for_train_on_for_eval(tmp_path):
    _folder_tree(tmp_path)
    flags = ("--dataset", "folder", "--data-root", str(tmp_path), "--val-fraction", "0",
             "--test-fraction", "0")
    assert all(r.tampered for r in build_dataset(_args(*flags), "train").records)
    assert any(not r.tampered for r in build_dataset(_args(*flags, "--include-authentic"), "train").records)
    assert any(not r.tampered for r in build_dataset(_args(*flags, "--test-fraction", "1"), "test").records)
    no_negatives = _args(*flags, "--test-fraction", "1", "--no-include-authentic")
    assert all(r.tampered for r in build_dataset(no_negatives, "test").records)


def test_val_dataset_other_than_training_is_used_whole(tmp_path):
    _folder_tree(tmp_path)
    (tmp_path / "pairs.txt").write_text("Tp/a.png Gt/a_gt.png\nTp/b.png Gt/b_mask.png\nAu/x.jpg -\n")
    args = _args("--dataset", "synthetic", "--val-dataset", "list", "--list", str(tmp_path / "pairs.txt"))
    assert len(build_dataset(args, "val")) == 3


def test_val_list_is_a_fixed_validation_split_used_whole(tmp_path):
    _folder_tree(tmp_path)
    (tmp_path / "train.txt").write_text("Tp/a.png Gt/a_gt.png\n")
    (tmp_path / "val.txt").write_text("Tp/b.png Gt/b_mask.png\nAu/x.jpg -\n")
    args = _args("--dataset", "list", "--list", str(tmp_path / "train.txt"), "--data-root", str(tmp_path),
                 "--val-list", str(tmp_path / "val.txt"), "--val-fraction", "0", "--test-fraction", "0")
    assert [Path(r.image).name for r in build_dataset(args, "train").records] == ["a.png"]
    assert [Path(r.image).name for r in build_dataset(args, "val").records] == ["b.png", "x.jpg"]


def test_val_list_images_leave_the_train_and_test_splits_of_a_registered_dataset(tmp_path):
    _folder_tree(tmp_path)
    (tmp_path / "val.txt").write_text("Tp/b.png Gt/b_mask.png\nAu/x.jpg -\n")
    flags = ("--dataset", "folder", "--data-root", str(tmp_path), "--include-authentic")
    whole = _args(*flags, "--val-fraction", "0", "--test-fraction", "0")
    assert {Path(r.image).name for r in build_dataset(whole, "train").records} == {"a.png", "b.png", "c.png",
                                                                                   "x.jpg"}
    with_val = _args(*flags, "--val-list", str(tmp_path / "val.txt"))
    splits = {split: {Path(r.image).name for r in build_dataset(with_val, split).records}
              for split in ("train", "val", "test")}
    assert splits["val"] == {"b.png", "x.jpg"}
    assert splits["train"] | splits["test"] == {"a.png", "c.png"} and not splits["train"] & splits["test"]
