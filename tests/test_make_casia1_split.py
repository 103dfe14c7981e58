"""The CASIA v1 source-disjoint split: no source photo on two sides, authentic photos follow their group."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_PAIRS = ROOT.parent / "shared" / "datasets" / "CASIA1" / "pairs.txt"
spec = importlib.util.spec_from_file_location("make_casia1_split", ROOT / "scripts" / "make_casia1_split.py")
split_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(split_script)

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def _toy_pairs() -> list[tuple[str, str]]:
    pairs = []
    for i in range(40):
        a, b = f"art{i:04d}", f"cha{(i * 7) % 13:04d}"
        pairs.append((f"Tp/Sp/Sp_D_NRN_A_{a}_{b}_{i:04d}.jpg", f"Gt/Sp/x{i}_gt.png"))
        pairs.append((f"Au/Au_art_{i:04d}.jpg", "-"))
    for i in range(13):
        pairs.append((f"Au/Au_cha_{i:04d}.jpg", "-"))
    return pairs


def _ids(pair: tuple[str, str]) -> set[str]:
    image, mask = pair
    return split_script.source_ids(image) if mask != "-" else {split_script.authentic_id(image)}


def test_source_ids_parse_casia_names():
    assert split_script.source_ids("Tp/Sp/Sp_D_NRN_A_art0014_cha0051_0459.jpg") == {"art0014", "cha0051"}
    assert split_script.source_ids("Tp/CM/Sp_S_NRD_A_ani0040_ani0054.0257.jpg") == {"ani0040", "ani0054"}
    assert split_script.authentic_id("Au/Au_cha_0011.JPG") == "cha0011"


def test_groups_are_connected_components():
    pairs = [("Sp_D_NRN_A_art0001_cha0002_0001.jpg", "m"), ("Sp_D_NRN_A_cha0002_nat0003_0002.jpg", "m"),
             ("Sp_D_NRN_A_sec0009_sec0009_0003.jpg", "m")]
    groups = split_script.group_tampered(pairs)
    assert sorted(len(g) for g in groups) == [1, 2]


def test_split_is_source_disjoint_and_complete():
    pairs = _toy_pairs()
    split = split_script.split_source_disjoint(pairs, FRACTIONS, seed=3)
    assert sorted(p for side in split.values() for p in side) == sorted(pairs)
    sides_of_id: dict[str, set[str]] = {}
    for side, members in split.items():
        for pair in members:
            for sid in _ids(pair):
                sides_of_id.setdefault(sid, set()).add(side)
    assert all(len(sides) == 1 for sides in sides_of_id.values())
    assert split_script.leaked_test_images(split) == 0


def test_random_split_leaks_on_toy_data():
    split = split_script.split_random(_toy_pairs(), FRACTIONS, seed=3)
    assert split_script.leaked_test_images(split) > 0


def test_full_casia1_split_matches_documented_grouping(tmp_path):
    if not SHARED_PAIRS.is_file():
        pytest.skip(f"{SHARED_PAIRS} not present (../shared/datasets is only on the project's machines)")
    pairs = split_script.read_pairs(SHARED_PAIRS)
    groups = split_script.group_tampered([p for p in pairs if p[1] != "-"])
    assert (len(groups), max(map(len, groups)), sum(len(g) == 1 for g in groups)) == (222, 71, 94)
    split = split_script.split_source_disjoint(pairs, FRACTIONS, seed=0)
    assert split_script.leaked_test_images(split) == 0
    tampered_test = sum(m != "-" for _, m in split["test"])
    assert 0.15 < tampered_test / 919 < 0.25
