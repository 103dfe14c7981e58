"""The training objective's settings as one typed, frozen value (METHOD.md §3).

The field defaults are the method's (and train.py's loss flags read them), so each default lives here
only; :class:`utils.losses.CaCLCriterion` takes a :class:`LossConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from utils.contour import CONTOUR_WIDTH
from utils.errors import require
from utils.losses.contrastive import CONTRAST_SCOPES, PIVOT_DETACH
from utils.losses.mask import MASK_LOSSES
from utils.losses.patches import CONTOUR_MODES


@dataclass(frozen=True)
class LossConfig:
    """Mask loss + λ-weighted contour BCE, contrastive and pivot terms, and how patches are sampled.

    Defaults: BCE + Dice mask loss, λ_contour 0.2, λ_contrast 0.1, λ_pivot 0.1, τ 0.1, contour band
    half-width 2 px, ``mixed`` contour patches, 1024 samples per branch pooled over the batch, no hard
    mining, the contrastive terms on from the first iteration and both branches moved by the pivot term.
    A weight of 0 turns its term off.
    """

    loss_type: str = "bce_dice"
    lambda_contour: float = 0.2
    lambda_contrast: float = 0.1
    lambda_pivot: float = 0.1
    temperature: float = 0.1
    contour_width: int = CONTOUR_WIDTH
    contour_patches: str = "mixed"
    num_anchors: int = 1024
    hard_ratio: float = 0.0
    pos_weight: Optional[float] = None
    contrast_scope: str = "batch"
    contrast_start_iter: int = 0
    pivot_detach: str = "none"

    def __post_init__(self) -> None:
        require(self.loss_type in MASK_LOSSES,
                f"loss_type must be one of {', '.join(MASK_LOSSES.names())}, got '{self.loss_type}'")
        for name in ("lambda_contour", "lambda_contrast", "lambda_pivot"):
            value = getattr(self, name)
            require(value >= 0, f"{name} must be >= 0, got {value}")
        require(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        require(self.contour_width >= 1, f"contour_width must be >= 1, got {self.contour_width}")
        require(self.contour_patches in CONTOUR_MODES,
                f"contour_patches must be one of {', '.join(CONTOUR_MODES)}, got '{self.contour_patches}'")
        require(self.num_anchors >= 4, f"num_anchors must be >= 4 (two per class), got {self.num_anchors}")
        require(0 <= self.hard_ratio <= 1, f"hard_ratio must be in [0, 1], got {self.hard_ratio}")
        require(self.pos_weight is None or self.pos_weight > 0,
                f"pos_weight must be > 0, got {self.pos_weight}")
        require(self.contrast_scope in CONTRAST_SCOPES,
                f"contrast_scope must be one of {', '.join(CONTRAST_SCOPES)}, got '{self.contrast_scope}'")
        require(self.contrast_start_iter >= 0,
                f"contrast_start_iter must be >= 0, got {self.contrast_start_iter}")
        require(self.pivot_detach in PIVOT_DETACH,
                f"pivot_detach must be one of {', '.join(PIVOT_DETACH)}, got '{self.pivot_detach}'")
