"""The backbone contract and registry.

A backbone maps an image batch (B,3,H,W) to ``(low_level, high_level)`` features: ``low_level`` at stride 4
with :attr:`Backbone.low_level_channels` channels (for the decoder), ``high_level`` at the backbone's
:attr:`Backbone.output_stride` (8 or 16) with :attr:`Backbone.high_level_channels` channels (for ASPP).
The stride is kept by replacing the last strides with dilation, so ASPP and the decoder size themselves
from these attributes and need no per-backbone special case.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor, nn
from torchvision.models import WeightsEnum

from utils.errors import UserError
from utils.provenance import RANDOM_INIT, Provenance
from utils.registry import Registry

OUTPUT_STRIDES = (8, 16)

BACKBONES: Registry[type["Backbone"]] = Registry("backbone")


def check_output_stride(output_stride: int) -> int:
    """Return ``output_stride`` if every backbone supports it, else raise a UserError."""
    if output_stride not in OUTPUT_STRIDES:
        raise UserError(f"output stride {output_stride} is not supported; choose one of {OUTPUT_STRIDES}")
    return output_stride


class Backbone(nn.Module, ABC):
    """Base class: subclasses set the channel counts and build their layers for ``output_stride``.

    ``imagenet_weights`` is the torchvision weights entry for ``pretrained="imagenet"`` (None when
    torchvision has none); ``bundled_weights`` names ImageNet weights that an installable package ships
    as ``(package, path inside it)``, the offline source of ``pretrained="auto"``; ``ignored_keys`` are
    prefixes of tensors in a pretrained file that the
    backbone deliberately drops (the classifier), so they are not reported as unexpected.
    """

    low_level_channels: ClassVar[int]
    high_level_channels: ClassVar[int]
    imagenet_weights: ClassVar[WeightsEnum | None] = None
    bundled_weights: ClassVar[tuple[str, str] | None] = None
    ignored_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, output_stride: int) -> None:
        super().__init__()
        self.output_stride = check_output_stride(output_stride)
        self.provenance = Provenance(RANDOM_INIT)

    @abstractmethod
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(low_level, high_level)`` features of the image batch ``x``."""
