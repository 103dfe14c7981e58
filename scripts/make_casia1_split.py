"""Write leak-free (source-disjoint) train/val/test list files for CASIA v1.0.

Every tampered CASIA v1 name carries the ids of the authentic photos it was made from
(``Sp_D_NRN_A_art0014_cha0051_0459`` → ``art0014``, ``cha0051`` = ``Au/Au_art_0014.jpg``, ``Au/Au_cha_0051.jpg``).
Tampered images that share a source id are grouped (connected components), each group keeps its
authentic photos, and whole groups are assigned to one side. A random split of the tampered images instead
puts near-copies of most test images into training (``--random`` writes one, for comparison only).

Reads a pairing file (``image mask`` or ``image -`` per line, paths relative to the dataset root, e.g. the
verified ``pairs.txt`` of ``../shared/datasets/CASIA1``) and writes ``train.txt``, ``val.txt``, ``test.txt`` in
the same format, plus ``split_summary.json``.

    python scripts/make_casia1_split.py --pairs $CACL_CASIA1_ROOT/pairs.txt --out splits/casia1
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.errors import UserError, run_cli  # noqa: E402

SOURCE_ID = re.compile(r"(?<![a-z])([a-z]{3})(\d{4})(?!\d)")
AUTHENTIC_ID = re.compile(r"Au_([a-z]{3})_(\d{4})", re.IGNORECASE)


def source_ids(image_path: str) -> set[str]:
    """Source-photo ids (``art0014``) named in a tampered CASIA v1 file name."""
    stem = Path(image_path).stem.replace(".", "_")
    fields = stem.split("_")[4:6]
    return {f"{m.group(1)}{m.group(2)}" for f in fields for m in SOURCE_ID.finditer(f.lower())}


def authentic_id(image_path: str) -> str | None:
    """The id (``art0014``) of an authentic photo ``Au_art_0014.jpg``."""
    match = AUTHENTIC_ID.search(Path(image_path).name)
    return f"{match.group(1).lower()}{match.group(2)}" if match else None


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Lines ``image mask`` / ``image -`` of a pairing file."""
    if not path.is_file():
        raise UserError(f"{path}: pairing file not found")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise UserError(f"{path}:{number}: expected 'image mask' or 'image -', got {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def group_tampered(tampered: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Connected components of tampered images linked by shared source ids (union-find)."""
    parent = list(range(len(tampered)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_id: dict[str, int] = {}
    for index, (image, _) in enumerate(tampered):
        for sid in source_ids(image):
            if sid in first_with_id:
                parent[find(index)] = find(first_with_id[sid])
            else:
                first_with_id[sid] = index
    groups: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for index, pair in enumerate(tampered):
        groups[find(index)].append(pair)
    return sorted(groups.values(), key=lambda g: g[0][0])


def assign_groups(groups: list[list], fractions: dict[str, float], seed: int) -> dict[str, list]:
    """Shuffle groups and fill the smaller splits first up to their share of tampered images."""
    rng = random.Random(seed)
    order = groups[:]
    rng.shuffle(order)
    total = sum(len(g) for g in groups)
    targets = {name: frac * total for name, frac in fractions.items()}
    sides: dict[str, list] = {name: [] for name in fractions}
    counts = {name: 0 for name in fractions}
    fill_order = sorted((n for n in fractions if n != "train"), key=lambda n: fractions[n])
    for group in order:
        side = next((n for n in fill_order if counts[n] + len(group) <= targets[n] * 1.05), "train")
        sides[side].append(group)
        counts[side] += len(group)
    return sides


def split_source_disjoint(pairs: list[tuple[str, str]], fractions: dict[str, float], seed: int) -> dict:
    """Split tampered groups and authentic photos so no source photo crosses sides."""
    tampered = [p for p in pairs if p[1] != "-"]
    authentic = [p for p in pairs if p[1] == "-"]
    sides = assign_groups(group_tampered(tampered), fractions, seed)
    side_of_id = {sid: side for side, groups in sides.items() for g in groups for img, _ in g for sid in source_ids(img)}
    rng = random.Random(seed + 1)
    result: dict[str, list] = {side: [p for g in groups for p in g] for side, groups in sides.items()}
    names = list(fractions)
    for pair in authentic:
        side = side_of_id.get(authentic_id(pair[0]) or "")
        result[side or rng.choices(names, weights=[fractions[n] for n in names])[0]].append(pair)
    return result


def split_random(pairs: list[tuple[str, str]], fractions: dict[str, float], seed: int) -> dict:
    """A plain random split (leaky on CASIA v1; for comparison only)."""
    order = pairs[:]
    random.Random(seed).shuffle(order)
    result, start = {}, 0
    for index, (name, frac) in enumerate(fractions.items()):
        end = len(order) if index == len(fractions) - 1 else start + round(frac * len(order))
        result[name], start = order[start:end], end
    return result


def leaked_test_images(split: dict[str, list]) -> int:
    """Test tampered images sharing a source id with any training or validation image."""
    seen = {sid for side in ("train", "val") for img, m in split.get(side, []) for sid in
            (source_ids(img) if m != "-" else {authentic_id(img)})}
    return sum(1 for img, m in split["test"] if m != "-" and source_ids(img) & seen)


def write_split(split: dict[str, list], out: Path, meta: dict) -> dict:
    """Write ``<side>.txt`` files and a JSON summary; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = dict(meta)
    for side, pairs in split.items():
        (out / f"{side}.txt").write_text("".join(f"{img} {mask}\n" for img, mask in sorted(pairs)))
        summary[side] = {"tampered": sum(m != "-" for _, m in pairs), "authentic": sum(m == "-" for _, m in pairs)}
    summary["test_tampered_sharing_a_source_with_train_or_val"] = leaked_test_images(split)
    (out / "split_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pairs", type=Path, required=True, help="pairing file (CASIA1/pairs.txt)")
    parser.add_argument("--out", type=Path, required=True, help="folder for train/val/test.txt")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of tampered images in val")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of tampered images in test")
    parser.add_argument("--random", action="store_true", help="leaky random split, for comparison only")
    args = parser.parse_args()
    fractions = {"train": 1 - args.val_fraction - args.test_fraction, "val": args.val_fraction,
                 "test": args.test_fraction}
    pairs = read_pairs(args.pairs)
    splitter = split_random if args.random else split_source_disjoint
    split = splitter(pairs, fractions, args.seed)
    meta = {"kind": "random (leaky)" if args.random else "source-disjoint", "seed": args.seed,
            "pairs": str(args.pairs), "groups": len(group_tampered([p for p in pairs if p[1] != "-"]))}
    print(json.dumps(write_split(split, args.out, meta), indent=2))


if __name__ == "__main__":
    run_cli(main)
