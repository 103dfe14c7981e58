"""NIST Nimble 2016 (NC2016), official layout (root = ``CACL_NIST16_ROOT``, the ``NC2016_Test`` folder)::

    probe/*.jpg, mask/*.png, world/...
    reference/manipulation/NC2016-manipulation-ref.csv

The reference CSV is pipe-separated with a header (``TaskID|ProbeFileID|ProbeFileName|
ProbeMaskFileName|...|IsTarget|...``); file names are relative to the root. ``IsTarget`` = Y rows with
a mask are tampered, N rows are authentic probes. Masks are **inverted**: black (0) = manipulated.

``--list FILE`` instead reads one ``image mask`` pair per line (paths relative to the root, ``-`` for
authentic), e.g. the common 404/160 train/test split; masks are still read inverted.
"""
from __future__ import annotations

import csv
from pathlib import Path

from dataloaders.config import DataConfig
from dataloaders.datasets.common import report_unmatched
from dataloaders.datasets.folder import read_pair_list
from dataloaders.datasets.registry import DATASETS
from dataloaders.records import Record
from utils.errors import DataError

REFERENCE = Path("reference") / "manipulation" / "NC2016-manipulation-ref.csv"
REQUIRED = ("ProbeFileName", "ProbeMaskFileName", "IsTarget")


def read_reference(csv_path: Path, base: Path) -> list[Record]:
    """Records from the pipe-separated manipulation reference (one per probe, first row wins)."""
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: NC2016 reference CSV not found")
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="|"))
    missing = [c for c in REQUIRED if rows and c not in rows[0]]
    if not rows or missing:
        raise DataError(f"{csv_path}: not an NC2016 reference "
                        f"(missing columns: {', '.join(missing) or 'all'})")
    records, seen, unmatched = [], set(), []
    for row in rows:
        probe = row["ProbeFileName"].strip()
        if probe in seen:
            continue
        seen.add(probe)
        mask = (row["ProbeMaskFileName"] or "").strip()
        if row["IsTarget"].strip().upper() == "Y" and not mask:
            unmatched.append((str(base / probe), "IsTarget=Y without ProbeMaskFileName"))
        elif row["IsTarget"].strip().upper() == "Y":
            records.append(Record(str(base / probe), str(base / mask), invert=True))
        else:
            records.append(Record(str(base / probe), None))
    report_unmatched("nist16", sum(r.tampered for r in records), unmatched)
    return records


@DATASETS.register("nist16")
def list_nist16(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """NC2016 pairs from the reference CSV, or from ``--list`` when given (masks inverted)."""
    base = Path(root)
    pair_list = config.pair_list
    if pair_list:
        return [Record(r.image, r.mask, invert=r.mask is not None) for r in read_pair_list(pair_list, base)]
    return read_reference(base / REFERENCE, base)
