"""CaCL-Net's network: DeepLabv3+ (backbone → ASPP → decoder) with mask, contour and projection heads."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modeling.aspp import ASPP
from modeling.backbone import build_backbone
from modeling.decoder import Decoder
from modeling.heads import ContourHead, MaskHead, ProjectionHead, project_patches

PIVOT_CHANNELS = 256


class PatchSample(Protocol):
    """What a patch selector returns: ``index`` (n,), flat stride-4 positions over B·h·w to project."""

    index: Tensor


# (mask logits (B,1,H,W), stride-4 grid (h, w)) → the patches to project
PatchSelector = Callable[[Tensor, tuple[int, int]], PatchSample]


def upsample(logits: Tensor, size: torch.Size) -> Tensor:
    """Bilinear resize of stride-4 logits to the input size."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class DeepLab(nn.Module):
    """DeepLabv3+ whose 256-channel stride-4 decoder output (the pivot) feeds every head.

    ``forward(x)`` returns ``mask`` and ``contour`` logits (B,1,H,W) at the input size and, when
    ``with_projection`` is set (training with the contrastive loss), ``embed_t`` and ``embed_a``:
    L2-normalised (B,embed_dim,h,w) embeddings on the stride-4 grid. ``forward(x, select)`` projects only
    the patches ``select`` picks from the mask logits: ``embed_t``/``embed_a`` are then (n,embed_dim) rows
    at ``select``'s ``index``, and ``patches`` is what ``select`` returned. Any input size works.
    ``pretrained`` initialises the backbone: None, ``"imagenet"`` (torchvision) or a weights file.
    ``separable`` uses depthwise-separable 3×3 convolutions in ASPP and the decoder (as the DeepLabv3+
    paper does), which cuts the cost of the stride-4 decoder, most of a MobileNetV2 model's compute.
    ``contour_hidden`` is the contour head's hidden width (0: a single 3×3 conv) and ``contour_hidden_kernel``
    its hidden conv's kernel (3 or 1, see :class:`ContourHead`). The defaults are
    :func:`modeling.build_model`'s.
    """

    def __init__(
        self,
        backbone: str,
        output_stride: int,
        embed_dim: int,
        with_projection: bool,
        pretrained: str | Path | None,
        separable: bool,
        contour_hidden: int,
        contour_hidden_kernel: int,
    ) -> None:
        super().__init__()
        self._config = {
            "backbone": backbone,
            "output_stride": output_stride,
            "embed_dim": embed_dim,
            "with_projection": with_projection,
            "separable": separable,
            "contour_hidden": contour_hidden,
            "contour_hidden_kernel": contour_hidden_kernel,
        }
        self.backbone = build_backbone(backbone, output_stride, pretrained)
        self.aspp = ASPP(self.backbone.high_level_channels, output_stride, PIVOT_CHANNELS, separable)
        self.decoder = Decoder(self.backbone.low_level_channels, PIVOT_CHANNELS, PIVOT_CHANNELS, separable)
        self.mask_head = MaskHead(PIVOT_CHANNELS)
        self.contour_head = ContourHead(PIVOT_CHANNELS, contour_hidden, contour_hidden_kernel)
        self.projection_t = ProjectionHead(PIVOT_CHANNELS, embed_dim=embed_dim) if with_projection else None
        self.projection_a = ProjectionHead(PIVOT_CHANNELS, embed_dim=embed_dim) if with_projection else None

    @property
    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this architecture (``pretrained`` excluded)."""
        return dict(self._config)

    def forward(self, x: Tensor, select: PatchSelector | None = None, embed: bool = True) -> dict[str, Any]:
        """Mask and contour logits at the input size and, when the model has projection heads and ``embed``
        is true, both branches' embeddings (``embed=False``: validation, a loss without contrastive terms)."""
        size = x.shape[-2:]
        low, high = self.backbone(x)
        pivot = self.decoder(self.aspp(high), low)
        outputs = {
            "mask": upsample(self.mask_head(pivot), size),
            "contour": upsample(self.contour_head(pivot), size),
        }
        if embed and self.projection_t is not None and self.projection_a is not None:
            outputs.update(self._embeddings(pivot, outputs["mask"], select))
        return outputs

    def _embeddings(self, pivot: Tensor, mask_logits: Tensor, select: PatchSelector | None) -> dict[str, Any]:
        """Both branches' embeddings: at every position, or at the patches ``select`` picks."""
        heads = (self.projection_t, self.projection_a)
        if select is None or not all(head.projects_rows for head in heads):
            return {"embed_t": heads[0](pivot), "embed_a": heads[1](pivot)}
        patches = select(mask_logits, tuple(pivot.shape[-2:]))
        embed_t, embed_a = project_patches(heads, pivot, patches.index)
        return {"embed_t": embed_t, "embed_a": embed_a, "patches": patches}
