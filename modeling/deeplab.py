"""CaCL-Net's network: DeepLabv3+ (backbone → ASPP → decoder) with mask, contour and projection heads."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.aspp import ASPP
from modeling.backbone import build_backbone
from modeling.decoder import Decoder
from modeling.heads import ContourHead, MaskHead, ProjectionHead

PIVOT_CHANNELS = 256


def upsample(logits: Tensor, size: torch.Size) -> Tensor:
    """Bilinear resize of stride-4 logits to the input size."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class DeepLab(nn.Module):
    """DeepLabv3+ whose 256-channel stride-4 decoder output (the pivot) feeds every head.

    ``forward(x)`` returns ``mask`` and ``contour`` logits (B,1,H,W) at the input size and, when
    ``with_projection`` is set (training with the contrastive loss), ``embed_t`` and ``embed_a``:
    L2-normalised (B,embed_dim,h,w) embeddings on the stride-4 grid. Any input size works.
    ``pretrained`` initialises the backbone: None, ``"imagenet"`` (torchvision) or a weights file.
    """

    def __init__(
        self,
        backbone: str = "resnet",
        output_stride: int = 16,
        embed_dim: int = 128,
        with_projection: bool = True,
        pretrained: str | Path | None = None,
    ) -> None:
        super().__init__()
        self._config = {
            "backbone": backbone,
            "output_stride": output_stride,
            "embed_dim": embed_dim,
            "with_projection": with_projection,
        }
        self.backbone = build_backbone(backbone, output_stride, pretrained)
        self.aspp = ASPP(self.backbone.high_level_channels, output_stride, PIVOT_CHANNELS)
        self.decoder = Decoder(self.backbone.low_level_channels, PIVOT_CHANNELS, PIVOT_CHANNELS)
        self.mask_head = MaskHead(PIVOT_CHANNELS)
        self.contour_head = ContourHead(PIVOT_CHANNELS)
        self.projection_t = ProjectionHead(PIVOT_CHANNELS, embed_dim=embed_dim) if with_projection else None
        self.projection_a = ProjectionHead(PIVOT_CHANNELS, embed_dim=embed_dim) if with_projection else None

    @property
    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this architecture (``pretrained`` excluded)."""
        return dict(self._config)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        low, high = self.backbone(x)
        pivot = self.decoder(self.aspp(high), low)
        outputs = {
            "mask": upsample(self.mask_head(pivot), size),
            "contour": upsample(self.contour_head(pivot), size),
        }
        if self.projection_t is not None and self.projection_a is not None:
            outputs["embed_t"] = self.projection_t(pivot)
            outputs["embed_a"] = self.projection_a(pivot)
        return outputs
