"""COVERAGE (copy-move with similar genuine objects), official layout (root = ``CACL_COVERAGE_ROOT``)::

    image/<N>t.tif   tampered        image/<N>.tif   authentic original
    mask/<N>forged.tif               the pasted (forged) region, white = tampered

Nine upstream masks are not the size of their image; they are handled by ``--mask-mismatch``
(``error`` by default, ``resize`` = nearest-neighbour resize, ``skip``).
"""
from __future__ import annotations

import re
from pathlib import Path

from dataloaders.config import DataConfig
from dataloaders.datasets.common import list_images, report_unmatched
from dataloaders.datasets.registry import DATASETS
from dataloaders.records import Record
from utils.errors import DataError

TAMPERED = re.compile(r"^(\d+)t$")
AUTHENTIC = re.compile(r"^(\d+)$")


def _number(path: Path) -> int:
    return int(re.sub(r"\D", "", path.stem) or 0)


@DATASETS.register("coverage")
def list_coverage(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """Tampered ``<N>t`` with ``mask/<N>forged``, then authentic ``<N>``; images without a mask are listed."""
    base = Path(root)
    images = sorted(list_images(base / "image"), key=_number)
    if not images:
        raise DataError(f"{base / 'image'}: no images found (COVERAGE layout: image/, mask/)")
    masks = {p.stem: p for p in list_images(base / "mask")}
    tampered, unmatched = [], []
    for image in (p for p in images if TAMPERED.match(p.stem)):
        mask = masks.get(f"{TAMPERED.match(image.stem).group(1)}forged")
        if mask is None:
            unmatched.append((str(image), "no mask/<N>forged.tif"))
        else:
            tampered.append(Record(str(image), str(mask), group=f"coverage{_number(image)}"))
    report_unmatched("coverage", len(tampered), unmatched)
    authentic = [Record(str(p), None, group=f"coverage{_number(p)}")
                 for p in images if AUTHENTIC.match(p.stem)]
    return tampered + authentic
