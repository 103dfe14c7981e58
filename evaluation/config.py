"""test.py's settings as one typed, frozen value: what to evaluate, with which data settings, on which
device, and how to predict and score.

The field defaults are test.py's flag defaults (test.py reads them), so each lives here only; the data
settings are a :class:`dataloaders.config.DataConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dataloaders.config import DataConfig
from evaluation.inference import TTA_MODES
from utils.device import EVAL_AMP_DEFAULT
from utils.errors import require
from utils.metrics.ranking import DEFAULT_IMAGE_SCORE, DEFAULT_TOP_PERCENT


@dataclass(frozen=True)
class EvalConfig:
    """The inputs (``in_path``, ``gt_path``, the ``split`` of a dataset name), the data settings, the
    concrete ``device``, inference (``amp``; ``resize`` 0 = native resolution, tiled above ``tile``
    pixels; test-time augmentation ``tta``) and scoring (``threshold``, histogram ``bins``, the
    image-level score, the inverse F1)."""

    in_path: str
    device: str
    data: DataConfig = field(default_factory=DataConfig)
    gt_path: Optional[str] = None
    split: str = "test"
    amp: bool = EVAL_AMP_DEFAULT
    resize: int = 0
    tile: int = 1024
    tta: str = "none"
    threshold: float = 0.5
    bins: int = 10000
    image_score: str = DEFAULT_IMAGE_SCORE
    top_percent: float = DEFAULT_TOP_PERCENT
    inverse_f1: bool = False

    def __post_init__(self) -> None:
        require(self.tile >= 1, f"tile must be >= 1 (a tile side in pixels), got {self.tile}")
        require(self.resize >= 0, f"resize must be >= 0 (0 = native resolution), got {self.resize}")
        require(self.tta in TTA_MODES, f"tta must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
