"""The training objective: mask losses, contour BCE, contour-aware contrastive loss, the criterion."""
from utils.losses.config import LossConfig
from utils.losses.criterion import CaCLCriterion
from utils.losses.mask import MASK_LOSSES

__all__ = ["CaCLCriterion", "LossConfig", "MASK_LOSSES"]
