"""CASIA v1.0 and v2.0 in their official layouts, with the community ground-truth masks.

Layout (root = ``CACL_CASIA1_ROOT`` / ``CACL_CASIA2_ROOT``)::

    Au/*.jpg                      authentic
    Tp/CM/*, Tp/Sp/* (v1)         tampered; v2: Tp/*
    Gt/**/<corrected stem>_gt.png masks (v1: Gt/CM, Gt/Sp; v2: Gt/ or "CASIA 2 Groundtruth/")
    Gt/FileNameCorrection.xlsx    v1 name corrections (v2: Notes/fileNamesCorrection.xlsx)

Pairing, in order, among masks not yet used:
1. the image name after the corrections of the xlsx (renames, CM↔Sp moves, the ``.0257`` typo);
2. the same name with the two source ids swapped (72 v1 splice masks);
3. a unique mask with the same prefix and numeric id whose ids differ by at most two characters
   (the ``ant0063``/``nat0063`` typo; ids alone are not unique, so the whole name must agree);
then the mask must have the image's size (a rotated mask is not silently used). Every unmatched image
and mask is printed with the reason. Splits keep images that share a source photo id together.
"""
from __future__ import annotations

from pathlib import Path

from dataloaders.config import DataConfig
from dataloaders.datasets.common import list_images, read_name_corrections, report_unmatched
from dataloaders.datasets.registry import DATASETS
from dataloaders.io import image_size
from dataloaders.records import Record
from dataloaders.splits import group_by_shared_keys
from utils.errors import DataError

MASK_SUFFIX = "_gt"
MAX_ID_TYPOS = 2


def _id_parts(stem: str) -> list[str]:
    """CASIA names end in ``..._<source id>_<target id>_<number>``."""
    return stem.replace(".", "_").split("_")


def swap_ids(stem: str) -> str:
    """The name with source and target ids exchanged."""
    parts = _id_parts(stem)
    if len(parts) < 4:
        return stem
    parts[-3], parts[-2] = parts[-2], parts[-3]
    return "_".join(parts)


def _near(a: str, b: str) -> bool:
    """Same prefix and number, ids within MAX_ID_TYPOS differing characters."""
    pa, pb = _id_parts(a), _id_parts(b)
    if len(pa) != len(pb) or len(pa) < 4 or pa[:-3] + pa[-1:] != pb[:-3] + pb[-1:]:
        return False
    ids_a, ids_b = "".join(pa[-3:-1]), "".join(pb[-3:-1])
    return len(ids_a) == len(ids_b) and sum(x != y for x, y in zip(ids_a, ids_b)) <= MAX_ID_TYPOS


def _fuzzy(stem: str, free: dict[str, Path]) -> str | None:
    hits = [m for m in free if _near(stem, m) or _near(swap_ids(stem), m)]
    return hits[0] if len(hits) == 1 else None


def pair_masks(images: list[Path], masks: dict[str, Path], corrections: dict[str, str]
               ) -> tuple[dict[Path, Path], list[tuple[str, str]]]:
    """Match tampered ``images`` to ``masks`` (mask stem without ``_gt`` → path); see module doc."""
    free = dict(masks)
    stems = {img: Path(corrections.get(img.name, img.name)).stem for img in images}
    found: dict[Path, Path] = {}
    for match in (lambda s: s if s in free else None, lambda s: swap_ids(s) if swap_ids(s) in free else None,
                  lambda s: _fuzzy(s, free)):
        for image in images:
            if image not in found and (key := match(stems[image])) is not None:
                found[image] = free.pop(key)
    unmatched = [(str(img), "no mask") for img in images if img not in found]
    unmatched += [(str(path), "mask without image") for path in free.values()]
    return _check_sizes(found, unmatched)


def _check_sizes(found: dict[Path, Path], unmatched: list[tuple[str, str]]
                 ) -> tuple[dict[Path, Path], list[tuple[str, str]]]:
    kept = {}
    for image, mask in found.items():
        image_hw, mask_hw = image_size(image), image_size(mask)
        if image_hw == mask_hw:
            kept[image] = mask
        else:
            unmatched.append((str(image), f"mask {mask.name} is {mask_hw[1]}x{mask_hw[0]}, image is "
                                          f"{image_hw[1]}x{image_hw[0]}"))
    return kept, unmatched


def _mask_index(folders: list[Path]) -> dict[str, Path]:
    masks = {}
    for folder in folders:
        for path in sorted(folder.rglob(f"*{MASK_SUFFIX}.*")) if folder.is_dir() else []:
            masks[path.stem[: -len(MASK_SUFFIX)]] = path
    return masks


def _source_ids(record: Record) -> list[str]:
    """Source photo ids in a name: ``Au_art_0014`` → art0014; ``Sp_D_.._art0014_cha0051_0459`` → both."""
    parts = _id_parts(Path(record.image).stem)
    if parts[0] == "Au" and len(parts) >= 3:
        return [parts[1] + parts[2]]
    return parts[-3:-1] if len(parts) >= 4 else []


def casia_records(root: Path, tampered: list[Path], mask_dirs: list[Path], corrections_file: Path,
                  name: str) -> list[Record]:
    """Paired tampered records (in ``tampered`` order) followed by the authentic ``Au/`` records."""
    if not tampered:
        raise DataError(f"{root / 'Tp'}: no tampered images found ({name} layout: Tp/, Gt/, Au/)")
    pairs, unmatched = pair_masks(tampered, _mask_index(mask_dirs), read_name_corrections(corrections_file))
    report_unmatched(name, len(pairs), unmatched)
    records = [Record(str(img), str(pairs[img])) for img in tampered if img in pairs]
    records += [Record(str(img), None) for img in list_images(root / "Au")]
    return group_by_shared_keys(records, _source_ids)


@DATASETS.register("casia1")
def list_casia1(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """CASIA v1.0: ``Tp/CM``, ``Tp/Sp``, ``Au``, masks under ``Gt`` (see module doc)."""
    base = Path(root)
    tampered = list_images(base / "Tp" / "CM") + list_images(base / "Tp" / "Sp")
    return casia_records(base, tampered, [base / "Gt"], base / "Gt" / "FileNameCorrection.xlsx", "casia1")


@DATASETS.register("casia2")
def list_casia2(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """CASIA v2.0: ``Tp``, ``Au``, masks in ``Gt`` or ``CASIA 2 Groundtruth`` (see module doc)."""
    base = Path(root)
    mask_dirs = [base / "Gt", base / "GT", base / "CASIA 2 Groundtruth"]
    corrections = base / "Notes" / "fileNamesCorrection.xlsx"
    return casia_records(base, list_images(base / "Tp"), mask_dirs, corrections, "casia2")
