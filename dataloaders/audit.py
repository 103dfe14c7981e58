"""Check records before training: unreadable files (``--skip-bad``) and masks of another size
(``--mask-mismatch {error,resize,skip}``). Header reads only, unless ``skip_bad`` asks for a full decode.
"""
from __future__ import annotations

import logging
from typing import Sequence

from dataloaders.io import image_size, verify_readable
from dataloaders.records import Record
from utils.errors import DataError, UserError

LOGGER = logging.getLogger(__name__)
MISMATCH_POLICIES = ("error", "resize", "skip")


def _check(record: Record, full_decode: bool) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(image size, mask size or None); with ``full_decode`` every file is decoded (finds truncation)."""
    paths = [record.image] + ([record.mask] if record.mask else [])
    if full_decode:
        for path in paths:
            verify_readable(path)
    sizes = [image_size(path) for path in paths]
    return sizes[0], (sizes[1] if record.mask else None)


def audit_records(records: Sequence[Record], mask_mismatch: str = "error",
                  skip_bad: bool = False) -> list[Record]:
    """Return the usable records; print how many were skipped for each reason.

    ``mask_mismatch``: ``error`` raises a DataError naming the first mismatched mask, ``resize`` keeps
    the record (the mask is resized with nearest neighbour when loaded), ``skip`` drops it.
    ``skip_bad``: unreadable/corrupt files are dropped and counted instead of raising.
    """
    if mask_mismatch not in MISMATCH_POLICIES:
        raise UserError(f"--mask-mismatch must be one of {', '.join(MISMATCH_POLICIES)}, "
                        f"got '{mask_mismatch}'")
    kept, bad, mismatched = [], [], []
    for record in records:
        try:
            image_hw, mask_hw = _check(record, skip_bad)
        except DataError as error:
            if not skip_bad:
                raise
            bad.append(str(error))
            continue
        if mask_hw is not None and mask_hw != image_hw:
            if mask_mismatch == "error":
                raise DataError(f"{record.mask}: mask is {mask_hw[1]}x{mask_hw[0]} but image {record.image} "
                                f"is {image_hw[1]}x{image_hw[0]} (use --mask-mismatch resize or skip)")
            mismatched.append(record.mask)
            if mask_mismatch == "skip":
                continue
        kept.append(record)
    _report(bad, mismatched, mask_mismatch)
    return kept


def _report(bad: list[str], mismatched: list[str], policy: str) -> None:
    if bad:
        print(f"skipped {len(bad)} unreadable file(s) (--skip-bad):")
        for line in bad:
            print(f"  {line}")
    if mismatched:
        action = "resized (nearest)" if policy == "resize" else "skipped"
        print(f"{len(mismatched)} mask(s) of another size than their image: {action} "
              f"(--mask-mismatch {policy})")
        for path in mismatched:
            LOGGER.info("mask size mismatch: %s", path)
