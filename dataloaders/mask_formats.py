"""How a mask file encodes the tampered region, by ``Record.mask_format``.

- ``binary``: one grey channel, ``>= 128`` is tampered (``Record.invert``: ``< 128`` is, as in NIST16).
- ``columbia``: Columbia's colour-coded ``edgemask`` (JPEG): the spliced region is painted green, the
  original camera's region red. Rule: a pixel is tampered when its green channel is >= 128 and its red
  channel < 128 (JPEG noise moves values only a little; boundary/white and red pixels are authentic).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dataloaders.io import read_mask, read_rgb_array
from dataloaders.records import Record
from utils.errors import DataError

COLOUR_THRESHOLD = 128


def columbia_region(rgb: np.ndarray) -> np.ndarray:
    """Columbia edgemask (H,W,3) uint8 → bool spliced region (green, not red)."""
    return (rgb[..., 1] >= COLOUR_THRESHOLD) & (rgb[..., 0] < COLOUR_THRESHOLD)


def _binary(record: Record) -> np.ndarray:
    return read_mask(record.mask, invert=record.invert)


def _columbia(record: Record) -> np.ndarray:
    return columbia_region(read_rgb_array(record.mask))


MASK_FORMATS: dict[str, Callable[[Record], np.ndarray]] = {"binary": _binary, "columbia": _columbia}


def load_mask(record: Record) -> np.ndarray | None:
    """The record's bool mask (None when authentic), decoded by its ``mask_format``."""
    if record.mask is None:
        return None
    if record.mask_format not in MASK_FORMATS:
        raise DataError(f"{record.mask}: unknown mask format '{record.mask_format}'")
    return MASK_FORMATS[record.mask_format](record)
