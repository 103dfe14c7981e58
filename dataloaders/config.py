"""The data layer's settings as typed, frozen values: which records, how they are split, audited,
loaded and transformed.

The field defaults are the defaults of the data flags (:func:`dataloaders.add_source_args` and
:func:`dataloaders.add_transform_args` read them), so each default lives here only. An entry point builds
one :class:`DataConfig` from its parsed flags (:meth:`DataConfig.from_flags`) and derives variants with
:func:`dataclasses.replace`; no function of the data layer sees an argparse namespace.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from dataloaders.audit import MISMATCH_POLICIES
from utils.errors import require

FLAG_NAMES = {"pair_list": "list"}  # field → flag destination, where they differ


@dataclass(frozen=True)
class TransformConfig:
    """The train augmentation and the val/test resize."""

    base_size: int = 256  # val/test resize (square); 0 keeps the original size
    min_scale: float = 0.5
    max_scale: float = 1.5
    hflip: bool = True
    color_jitter: float = 0.1  # brightness/contrast/saturation factors in [1 - s, 1 + s]
    degrade_prob: float = 0.0

    def __post_init__(self) -> None:
        require(self.base_size >= 0, f"base_size must be >= 0 (0 = original size), got {self.base_size}")
        require(0 < self.min_scale <= self.max_scale,
                f"min_scale and max_scale must satisfy 0 < min_scale <= max_scale, got {self.min_scale} "
                f"and {self.max_scale}")
        require(0 <= self.color_jitter <= 1, f"color_jitter must be in [0, 1], got {self.color_jitter}")
        require(0 <= self.degrade_prob <= 1, f"degrade_prob must be in [0, 1], got {self.degrade_prob}")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, how its records are split, audited and batched, and the transforms.

    ``seed`` seeds the distributed train sampler (train.py's ``--seed``); ``split_seed`` the split and the
    synthetic images. ``include_authentic`` None means: off for train, on for val/test.
    """

    dataset: str = "synthetic"
    data_root: str | None = None
    pair_list: str | None = None  # --list
    val_dataset: str | None = None
    val_list: str | None = None
    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    crop_size: int = 256
    workers: int = 1
    batch_size: int = 8
    test_batch_size: int | None = None
    include_authentic: bool | None = None
    mask_mismatch: str = "error"
    skip_bad: bool = False
    synthetic_source: str | None = None
    synthetic_size: int = 1000
    seed: int = 0
    mix_synthetic: float = 0.0
    transforms: TransformConfig = field(default_factory=TransformConfig)

    def __post_init__(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            require(0 <= value <= 1, f"{name} must be in [0, 1], got {value}")
        for name in ("crop_size", "batch_size", "synthetic_size"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, got {value}")
        require(self.test_batch_size is None or self.test_batch_size >= 1,
                f"test_batch_size must be >= 1, got {self.test_batch_size}")
        require(self.workers >= 0, f"workers must be >= 0, got {self.workers}")
        require(self.mask_mismatch in MISMATCH_POLICIES,
                f"mask_mismatch must be one of {', '.join(MISMATCH_POLICIES)}, got '{self.mask_mismatch}'")
        require(self.mix_synthetic >= 0, f"mix_synthetic must be >= 0, got {self.mix_synthetic}")

    @property
    def eval_batch_size(self) -> int:
        """The val/test batch: ``test_batch_size``, else ``batch_size``."""
        return self.test_batch_size or self.batch_size

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> DataConfig:
        """Build from parsed flag values keyed by flag destination (``vars(namespace)``); other keys are
        ignored, and a field whose flag the parser lacks keeps its default (test.py has no transform
        flags)."""
        transforms = {f.name: flags[f.name] for f in fields(TransformConfig) if f.name in flags}
        values = {f.name: flags[FLAG_NAMES.get(f.name, f.name)] for f in fields(cls)
                  if f.name != "transforms" and FLAG_NAMES.get(f.name, f.name) in flags}
        return cls(**values, transforms=TransformConfig(**transforms))

    def to_flags(self) -> dict[str, Any]:
        """Flag destination → value, the inverse of :meth:`from_flags` (what a run folder records)."""
        values = {FLAG_NAMES.get(name, name): value for name, value in asdict(self).items()
                  if name != "transforms"}
        return {**values, **asdict(self.transforms)}
