"""Your own data: a folder of tampered images and masks, or a list file (text or JSON).

``--dataset folder --data-root DIR``::

    DIR/Tp/<stem>.<ext>      tampered images
    DIR/Gt/<stem>[_gt|_mask].<ext>   their masks (white = tampered; >= 128 after grey conversion)
    DIR/Au/*                 optional authentic images

``--dataset list --list FILE``: one ``image mask`` pair per line (``-`` or ``None`` = authentic; a line
starting with ``#`` is a comment, a ``#`` inside a path is part of the path; the image path may contain
spaces, the mask path may not), or a JSON file ``[[image, mask_or_"Negative"], ...]`` (IMDL-BenCo style).
Relative paths are taken from ``--data-root`` when given, else from the list file's folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from dataloaders.config import DataConfig
from dataloaders.datasets.common import list_images, report_unmatched
from dataloaders.datasets.registry import DATASETS
from dataloaders.records import Record
from utils.errors import DataError, UserError

MASK_SUFFIXES = ("_gt", "_mask", "")
AUTHENTIC_MARKS = {"-", "none", "negative"}


def match_masks(images: Sequence[Path], gt_dir: Path) -> list[str | None]:
    """The mask in ``gt_dir`` of each image, matched by stem with or without ``_gt``/``_mask`` (None when
    there is none); shared by ``--dataset folder`` and ``test.py --gt-path``."""
    masks = {p.stem: p for p in list_images(gt_dir)}
    found = (next((masks[image.stem + s] for s in MASK_SUFFIXES if image.stem + s in masks), None)
             for image in images)
    return [None if mask is None else str(mask) for mask in found]


@DATASETS.register("folder")
def list_folder(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """``Tp`` images matched to ``Gt`` masks by stem (with or without ``_gt``/``_mask``), plus ``Au``."""
    base = Path(root)
    tampered = list_images(base / "Tp")
    authentic = list_images(base / "Au")
    if not tampered and not authentic:
        raise DataError(f"{base}: no images in Tp/ or Au/ (folder layout: Tp/, Gt/, optional Au/)")
    records, unmatched = [], []
    for image, mask in zip(tampered, match_masks(tampered, base / "Gt")):
        if mask is None:
            unmatched.append((str(image), "no mask in Gt/ with this stem"))
        else:
            records.append(Record(str(image), mask))
    report_unmatched("folder", len(records), unmatched)
    return records + [Record(str(p), None) for p in authentic]


def _resolve(path: str, base: Path) -> str:
    return str(Path(path) if Path(path).is_absolute() else base / path)


def _mask_or_none(value: str | None, base: Path) -> str | None:
    if value is None or value.strip().lower() in AUTHENTIC_MARKS:
        return None
    return _resolve(value.strip(), base)


def _text_pairs(text: str, source: Path) -> list[tuple[str, str | None]]:
    pairs = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.rsplit(None, 1)
        if len(fields) != 2:
            raise DataError(f"{source}:{number}: expected 'image mask' (or 'image -'), got '{line}'")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


def _json_pairs(text: str, source: Path) -> list[tuple[str, str | None]]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{source}: invalid JSON ({error})") from None
    if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) == 2 for e in entries):
        raise DataError(f"{source}: expected a JSON list of [image, mask_or_\"Negative\"] pairs")
    return [(str(image), None if mask is None else str(mask)) for image, mask in entries]


def read_pair_list(path: str | Path, base: str | Path | None = None) -> list[Record]:
    """Records of a text or JSON pair list; relative paths are resolved against ``base`` (default: the
    list file's folder)."""
    source = Path(path)
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{source}: cannot read list file ({error})") from None
    parse = _json_pairs if source.suffix.lower() == ".json" else _text_pairs
    folder = Path(base) if base else source.parent
    return [Record(_resolve(image, folder), _mask_or_none(mask, folder))
            for image, mask in parse(text, source)]


@DATASETS.register("list")
def list_file(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """Records from ``--list FILE`` (``root``, when set, is the base of relative paths)."""
    pair_list = config.pair_list
    if not pair_list:
        raise UserError("--dataset list needs --list FILE (text 'image mask' lines or a JSON pair list)")
    return read_pair_list(pair_list, root or None)
