"""What every dataset lister returns: one image and its mask file, or no mask for an authentic image."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """One sample on disk.

    ``mask=None`` means authentic (all-zero mask). ``invert`` marks masks stored with 0 = tampered
    (NIST16). ``mask_format`` names how the mask file encodes the region: ``"binary"`` (threshold at
    128) or ``"columbia"`` (colour-coded edge mask, see :mod:`dataloaders.datasets.columbia`).
    ``group`` ties records that share a source photo so that splits keep them together ("" = alone).
    """

    image: str
    mask: str | None
    invert: bool = False
    mask_format: str = "binary"
    group: str = ""

    @property
    def tampered(self) -> bool:
        """Whether the record has a tampering mask."""
        return self.mask is not None

    @property
    def group_key(self) -> str:
        """The key that keeps related records on one side of a split."""
        return self.group or self.image
